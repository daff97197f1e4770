"""What a `uses:` reference means locally: a composite action, a reusable workflow or a built-in stand-in.

Marketplace actions run JavaScript or Docker from GitHub, which the harness cannot
fetch; the few our workflows use have local equivalents in BUILTINS. Anything
else is a clear error that names the supported set and the `--repo` mapping.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkit.ci.workflow import load_yaml
from toolkit.errors import WorkflowError


@dataclass(frozen=True)
class BuiltinContext:
    workspace: Path
    temp: Path
    python: Path | None = None  # the runner's interpreter (RunOptions.python); None: the harness's own


Builtin = Callable[[BuiltinContext, dict[str, str]], dict[str, str]]


def _checkout(ctx: BuiltinContext, with_: dict[str, str]) -> dict[str, str]:
    # The workspace already is the repository at the commit under test.
    return {}


def _setup_python(ctx: BuiltinContext, with_: dict[str, str]) -> dict[str, str]:
    import platform
    import subprocess
    import sys

    # The harness put the runner's interpreter directory first on PATH.
    if ctx.python is None:
        return {"python-version": platform.python_version(), "python-path": sys.executable}
    version = subprocess.run(
        [str(ctx.python), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return {"python-version": version, "python-path": str(ctx.python)}


def _artifact_dir(ctx: BuiltinContext, name: str) -> Path:
    return ctx.temp / "artifacts" / (name or "artifact")


def _upload_artifact(ctx: BuiltinContext, with_: dict[str, str]) -> dict[str, str]:
    dest = _artifact_dir(ctx, with_.get("name", "artifact"))
    dest.mkdir(parents=True, exist_ok=True)
    for line in with_.get("path", "").splitlines():
        for src in sorted(ctx.workspace.glob(line.strip())) if line.strip() else []:
            target = dest / src.relative_to(ctx.workspace)
            target.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, target, dirs_exist_ok=True)
            else:
                shutil.copy2(src, target)
    return {"artifact-id": with_.get("name", "artifact")}


def _download_artifact(ctx: BuiltinContext, with_: dict[str, str]) -> dict[str, str]:
    src = _artifact_dir(ctx, with_.get("name", "artifact"))
    if not src.is_dir():
        raise WorkflowError(f"artifact {with_.get('name', 'artifact')!r} was not uploaded in this run")
    dest = ctx.workspace / with_.get("path", ".")
    shutil.copytree(src, dest, dirs_exist_ok=True)
    return {"download-path": str(dest)}


def _cache(ctx: BuiltinContext, with_: dict[str, str]) -> dict[str, str]:
    # A local run keeps its caches where they are; nothing is restored or saved.
    return {"cache-hit": "false"}


BUILTINS: dict[str, Builtin] = {
    "actions/checkout": _checkout,
    "actions/setup-python": _setup_python,
    "actions/upload-artifact": _upload_artifact,
    "actions/download-artifact": _download_artifact,
    "actions/cache": _cache,
}


@dataclass(frozen=True)
class CompositeAction:
    path: Path  # the action's directory
    spec: dict[str, Any]


@dataclass(frozen=True)
class ReusableWorkflow:
    path: Path


@dataclass(frozen=True)
class BuiltinAction:
    name: str
    fn: Builtin


Resolved = CompositeAction | ReusableWorkflow | BuiltinAction


def _split_remote(uses: str) -> tuple[str, str, str]:
    """`owner/repo/sub/path@ref` -> ("owner/repo", "sub/path", ref)."""
    target, _, ref = uses.partition("@")
    parts = target.split("/")
    if len(parts) < 2 or not ref:
        raise WorkflowError(f"uses: {uses!r} is not OWNER/REPO[/PATH]@REF or ./PATH")
    return "/".join(parts[:2]), "/".join(parts[2:]), ref


def _load_action(directory: Path, uses: str) -> CompositeAction:
    for name in ("action.yml", "action.yaml"):
        if (directory / name).is_file():
            spec = load_yaml(directory / name)
            runs = spec.get("runs") or {}
            if runs.get("using") != "composite":
                raise WorkflowError(
                    f"uses: {uses}: only composite actions run locally (this one uses {runs.get('using')!r})"
                )
            return CompositeAction(directory, spec)
    raise WorkflowError(f"uses: {uses}: no action.yml in {directory}")


def resolve(uses: str, workspace: Path, repos: dict[str, Path], *, job_level: bool) -> Resolved:
    if uses.startswith("docker://"):
        raise WorkflowError(f"uses: {uses}: Docker actions need a Docker daemon, which the local harness does not use")
    if uses.startswith("./"):
        local = workspace / uses[2:]
    else:
        repo, sub, _ref = _split_remote(uses)
        if repo in repos:
            local = repos[repo] / sub
        elif not job_level and repo in BUILTINS and not sub:
            return BuiltinAction(repo, BUILTINS[repo])
        else:
            supported = ", ".join(sorted(BUILTINS))
            raise WorkflowError(
                f"uses: {uses}: external actions do not run locally; supported stand-ins: {supported}; "
                f"map a repository to a checkout with --repo {repo}=PATH"
            )
    if job_level:
        if local.suffix not in {".yml", ".yaml"} or not local.is_file():
            raise WorkflowError(f"uses: {uses}: reusable workflow {local} not found")
        return ReusableWorkflow(local)
    if not local.is_dir():
        raise WorkflowError(f"uses: {uses}: action directory {local} not found")
    return _load_action(local, uses)
