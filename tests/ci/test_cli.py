"""`pitlane ci run|plan|verify-release` through Typer's CliRunner: one JSON document, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.ci.conftest import git
from toolkit.cli.main import app

WF = """
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      greeting: ${{ steps.g.outputs.greeting }}
    steps:
      - id: g
        run: echo "greeting=hello $WHO from ${{ inputs.who || 'cli' }}" >> "$GITHUB_OUTPUT"
  check:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - name: compare
        run: |
          echo "got: ${{ needs.build.outputs.greeting }}"
          test "${{ needs.build.outputs.greeting }}" = "hello $EXPECTED"
"""


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_run_json_prints_one_document(workspace: Path, write) -> None:
    write(".github/workflows/w.yml", WF)
    r = invoke("ci", "run", "w", "--workspace", str(workspace), "--env", "WHO=ann", "--env",
               "EXPECTED=ann from cli", "--json")  # fmt: skip
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["ok"] is True
    assert doc["jobs"]["build"]["outputs"] == {"greeting": "hello ann from cli"}
    assert doc["jobs"]["check"]["result"] == "success"
    assert "got: hello ann from cli" in r.stderr  # step output streams to stderr


def test_run_failure_is_one_error_line_and_exit_1(workspace: Path, write) -> None:
    write(".github/workflows/w.yml", WF)
    r = invoke("ci", "run", "w", "check", "--workspace", str(workspace), "--env", "WHO=bob", "--env", "EXPECTED=x")
    assert r.exit_code == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last == "error: job 'check': step 'compare' failed (exit 1): got: hello bob from cli"
    assert "Traceback" not in r.output


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["ci", "run", "nope"], 1, "error: no workflow 'nope'"),
        (["ci", "run", "w", "nojob"], 1, "error: w.yml: no job 'nojob' (jobs: build, check)"),
        (["ci", "run", "w", "--input", "novalue"], 2, "error: --input 'novalue': expected KEY=VALUE"),
        (["ci", "run", "w", "--event", "release"], 1, "error: unknown event 'release'"),
        (["ci", "run", "w", "--input", "who=x"], 1, "error: w.yml has no input 'who'"),
    ],
)
def test_bad_arguments_are_one_line(workspace: Path, write, args: list[str], code: int, message: str) -> None:
    write(".github/workflows/w.yml", WF)
    r = invoke(*args, "--workspace", str(workspace))
    assert r.exit_code == code, r.output
    assert r.stderr.strip().startswith(message), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def _dvc(repo: Path, *args: str) -> None:
    subprocess.run([str(Path(sys.executable).parent / "dvc"), *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def released_repo(workspace: Path, tmp_path: Path) -> Path:
    """A tiny real DVC repo with one tracked output, released as thing@v1 (tag only, no push)."""
    _dvc(workspace, "init", "-q")
    _dvc(workspace, "stage", "add", "-n", "make", "-o", "out.txt", "echo weights > out.txt")
    _dvc(workspace, "repro", "-q")
    _dvc(workspace, "remote", "add", "-d", "local", str(tmp_path / "remote"))
    git(workspace, "add", "-A")
    git(workspace, "commit", "-qm", "output")
    r = invoke("release", "thing", "v1", "--files", "out.txt", "--no-push", "--repo", str(workspace))
    assert r.exit_code == 0, r.output
    return workspace


def test_verify_release_checks_manifest_commit_and_remote(released_repo: Path) -> None:
    ok = invoke("ci", "verify-release", "refs/tags/thing@v1", "--repo", str(released_repo))
    assert ok.exit_code == 0, ok.output
    lines = dict(line.split("=", 1) for line in ok.stdout.strip().splitlines())
    assert lines["name"] == "thing" and lines["version"] == "v1" and lines["tag"] == "thing@v1"
    assert lines["commit"] == git(released_repo, "rev-parse", "HEAD")
    # Not pushed yet: the remote check fails with one line...
    missing = invoke("ci", "verify-release", "thing@v1", "--repo", str(released_repo), "--remote")
    assert missing.exit_code == 1
    assert missing.stderr.strip() == "error: thing@v1: files are not in the DVC remote: out.txt (new)"
    # ...and passes once the files are there.
    _dvc(released_repo, "push", "-q")
    assert invoke("ci", "verify-release", "thing@v1", "--repo", str(released_repo), "--remote").exit_code == 0


def test_verify_release_rejects_bad_tags(released_repo: Path) -> None:
    git(released_repo, "tag", "thing@v2")  # lightweight: carries no manifest
    git(released_repo, "tag", "-a", "thing@v3", "-m", "just words")
    cases = {
        "thing_@v1": "error: tag 'thing_@v1' is not a release tag NAME@VERSION",
        "thing#prod#1": "error: tag 'thing#prod#1' is not a release tag NAME@VERSION",
        "thing@v9": "error: tag 'thing@v9' does not exist",
        "thing@v2": "error: tag 'thing@v2' is not annotated: release tags carry their manifest",
        "thing@v3": "error: tag message is not a JSON manifest",
    }
    for tag, message in cases.items():
        r = invoke("ci", "verify-release", tag, "--repo", str(released_repo))
        assert r.exit_code == 1, (tag, r.output)
        assert r.stderr.startswith(message), (tag, r.stderr)


def test_plan_prints_runner_labels_of_a_stage(tmp_path: Path) -> None:
    from tests.registry.runs_support import make_experiment

    repo = make_experiment(tmp_path)
    r = invoke("ci", "plan", "--repo", str(repo))
    assert r.exit_code == 0, r.output
    lines = dict(line.split("=", 1) for line in r.stdout.strip().splitlines())
    assert json.loads(lines["runner"]) == ["ubuntu-latest"] and lines["gpus"] == "0"
    bad = invoke("ci", "plan", "--repo", str(repo), "--stage", "deploy")
    assert bad.exit_code == 1 and bad.stderr.startswith("error: unknown stage 'deploy'")
