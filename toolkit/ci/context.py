"""What a run of the harness knows: options, the `github` context and the runner's environment."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit.errors import WorkflowError

EVENTS = ("push", "pull_request", "tag", "workflow_dispatch")


def _git(workspace: Path, *args: str) -> str | None:
    proc = subprocess.run(["git", "-C", str(workspace), *args], capture_output=True, text=True, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


@dataclass
class RunOptions:
    """How to run a workflow locally. `repos` maps `owner/repo` of `uses:` references to local checkouts."""

    workspace: Path
    event: str = "push"
    ref: str | None = None
    base_ref: str = "main"
    inputs: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    vars: dict[str, str] = field(default_factory=dict)
    repos: dict[str, Path] = field(default_factory=dict)
    repository: str | None = None
    temp_dir: Path | None = None
    log: Callable[[str], None] | None = None
    check_triggers: bool = True
    # The interpreter actions/setup-python stands for (its directory goes first on PATH); default: this one.
    python: Path | None = None

    def __post_init__(self) -> None:
        if self.event not in EVENTS:
            raise WorkflowError(f"unknown event {self.event!r} (one of: {', '.join(EVENTS)})")
        self.workspace = self.workspace.resolve()
        if not self.workspace.is_dir():
            raise WorkflowError(f"workspace {self.workspace} is not a directory")
        if self.python is not None and not Path(self.python).is_file():
            raise WorkflowError(f"python {self.python}: no such interpreter")


@dataclass(frozen=True)
class GitHubRef:
    event_name: str
    ref: str
    ref_name: str
    ref_type: str
    sha: str
    base_ref: str
    head_ref: str


def resolve_ref(options: RunOptions) -> GitHubRef:
    """GitHub's ref variables for the event, read from the workspace's git state."""
    ws = options.workspace
    if options.event == "tag":
        if not options.ref:
            raise WorkflowError("--event tag needs --ref TAG")
        tag = options.ref.removeprefix("refs/tags/")
        sha = _git(ws, "rev-parse", "--verify", "--quiet", f"refs/tags/{tag}^{{commit}}")
        if sha is None:
            raise WorkflowError(f"tag {tag!r} does not exist in {ws}")
        return GitHubRef("push", f"refs/tags/{tag}", tag, "tag", sha, "", "")
    branch = (options.ref or _git(ws, "rev-parse", "--abbrev-ref", "HEAD") or "main").removeprefix("refs/heads/")
    sha = _git(ws, "rev-parse", "--verify", "--quiet", f"{branch}^{{commit}}") or _git(ws, "rev-parse", "HEAD")
    sha = sha or "0" * 40
    if options.event == "pull_request":
        return GitHubRef("pull_request", "refs/pull/1/merge", "1/merge", "branch", sha, options.base_ref, branch)
    return GitHubRef(options.event, f"refs/heads/{branch}", branch, "branch", sha, "", "")


def repository_name(options: RunOptions) -> str:
    if options.repository:
        return options.repository
    url = _git(options.workspace, "remote", "get-url", "origin") or ""
    tail = url.rstrip("/").removesuffix(".git").replace(":", "/").split("/")[-2:]
    if len(tail) == 2 and all(tail):
        return "/".join(tail)
    return f"local/{options.workspace.name}"


def github_context(options: RunOptions, ref: GitHubRef, workflow_name: str) -> dict[str, Any]:
    repo = repository_name(options)
    event: dict[str, Any] = {}
    if ref.event_name == "pull_request":
        base_sha = _git(options.workspace, "rev-parse", "--verify", "--quiet", ref.base_ref) or ""
        event = {
            "number": 1,
            "pull_request": {
                "number": 1,
                "base": {"ref": ref.base_ref, "sha": base_sha},
                "head": {"ref": ref.head_ref, "sha": ref.sha},
            },
        }
    elif ref.event_name == "push":
        event = {"ref": ref.ref, "after": ref.sha}
    run_id = str(uuid.uuid4().int % 10**10)
    return {
        "event_name": ref.event_name,
        "event": event,
        "ref": ref.ref,
        "ref_name": ref.ref_name,
        "ref_type": ref.ref_type,
        "sha": ref.sha,
        "base_ref": ref.base_ref,
        "head_ref": ref.head_ref,
        "repository": repo,
        "repository_owner": repo.split("/")[0],
        "workspace": str(options.workspace),
        "server_url": "https://github.com",
        "api_url": "https://api.github.com",
        "run_id": run_id,
        "run_number": "1",
        "run_attempt": "1",
        "actor": os.environ.get("USER", "pitlane"),
        "workflow": workflow_name,
        "token": options.secrets.get("GITHUB_TOKEN", ""),
        "action_path": "",
        "job": "",
    }


def runner_context(temp: Path) -> dict[str, Any]:
    return {"os": "Linux", "arch": "X64", "name": "pitlane-local", "temp": str(temp), "tool_cache": str(temp)}


def runner_python(options: RunOptions) -> Path:
    """The runner's Python: ``--python`` when given, else the interpreter running the harness."""
    return Path(options.python) if options.python is not None else Path(sys.executable)


def base_environment(github: dict[str, Any], runner: dict[str, Any], python: Path | None = None) -> dict[str, str]:
    """The variables a GitHub runner sets for every step."""
    env = dict(os.environ)
    # Steps find the runner's interpreter first, as actions/setup-python would arrange. Its directory is not
    # resolved: a venv's bin/python is a symlink, and the venv is what must come first.
    interpreter = python if python is not None else Path(sys.executable)
    env["PATH"] = os.pathsep.join([str(interpreter.parent), env.get("PATH", "")])
    env.update(
        {
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": github["workspace"],
            "GITHUB_REF": github["ref"],
            "GITHUB_REF_NAME": github["ref_name"],
            "GITHUB_REF_TYPE": github["ref_type"],
            "GITHUB_SHA": github["sha"],
            "GITHUB_EVENT_NAME": github["event_name"],
            "GITHUB_BASE_REF": github["base_ref"],
            "GITHUB_HEAD_REF": github["head_ref"],
            "GITHUB_REPOSITORY": github["repository"],
            "GITHUB_REPOSITORY_OWNER": github["repository_owner"],
            "GITHUB_SERVER_URL": github["server_url"],
            "GITHUB_API_URL": github["api_url"],
            "GITHUB_RUN_ID": github["run_id"],
            "GITHUB_RUN_NUMBER": github["run_number"],
            "GITHUB_RUN_ATTEMPT": github["run_attempt"],
            "GITHUB_ACTOR": github["actor"],
            "GITHUB_WORKFLOW": github["workflow"],
            "RUNNER_OS": runner["os"],
            "RUNNER_ARCH": runner["arch"],
            "RUNNER_NAME": runner["name"],
            "RUNNER_TEMP": runner["temp"],
            "RUNNER_TOOL_CACHE": runner["tool_cache"],
        }
    )
    return env
