"""Dogfood: `pitlane ci run` executes this repository's own ci.yml as a non-root user in a fresh clone.

GitHub's runners are not root; the development machines and CI here are. So the test drops to an unprivileged
uid (nobody's, with its own HOME) and runs the `lint` job of `.github/workflows/ci.yml` through the harness:
`make install` creates the clone's .venv from locks/dev.txt with Debian's python3 (a few minutes: every locked
package is installed), system-deps finds what it needs without root, then the lock check, ruff and mypy run.

The harness itself runs as that user from Debian's python3 with this checkout and the main .venv's
site-packages on PYTHONPATH (the main .venv's own interpreter lies under /root, which the user cannot enter);
the job's steps get PYTHONPATH cleared so that `make install` builds a venv of its own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = Path("/usr/bin/python3")
UNPRIVILEGED = 65534  # nobody


def _tracked_and_new_files(repo: Path) -> list[str]:
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo,
        check=True,
        capture_output=True,
    ).stdout
    return [name for name in listing.decode().split("\0") if name and (repo / name).is_file()]


def fresh_clone(source: Path, target: Path) -> Path:
    """A new repository holding the working tree as it is now (committed or not), as one commit."""
    target.mkdir(parents=True)
    for name in _tracked_and_new_files(source):
        dest = target / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / name, dest)
    env = {**os.environ, "GIT_AUTHOR_NAME": "ci", "GIT_AUTHOR_EMAIL": "ci@pitlane.local"}
    env |= {"GIT_COMMITTER_NAME": "ci", "GIT_COMMITTER_EMAIL": "ci@pitlane.local"}
    for cmd in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "fresh clone"]):
        subprocess.run(["git", *cmd], cwd=target, check=True, env=env, capture_output=True)
    return target


@pytest.fixture
def unprivileged_workdir() -> Iterator[Path]:
    work = Path(tempfile.mkdtemp(prefix="pitlane-dogfood-"))
    work.chmod(0o755)
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _as_user(uid: int) -> list[str]:
    if os.geteuid() != 0:
        return []  # already unprivileged
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]


@pytest.mark.slow
def test_ci_lint_job_runs_through_make_install_as_a_non_root_user(unprivileged_workdir: Path) -> None:
    assert SYSTEM_PYTHON.exists(), "Debian's python3 (apt-get install python3-venv) runs the harness unprivileged"
    clone = fresh_clone(ROOT, unprivileged_workdir / "pitlane")
    home = unprivileged_workdir / "home"
    home.mkdir()
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", f"{UNPRIVILEGED}:{UNPRIVILEGED}", str(unprivileged_workdir)], check=True)
    site_packages = sysconfig.get_paths()["purelib"]
    env = {
        "HOME": str(home),
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "PYTHONPATH": os.pathsep.join([str(clone), site_packages]),
        "PLAYWRIGHT_BROWSERS_PATH": "0",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    cmd = [*_as_user(UNPRIVILEGED), str(SYSTEM_PYTHON), "-m", "toolkit", "ci", "run"]
    cmd += [".github/workflows/ci.yml", "lint", "--json", "--env", "PYTHONPATH="]
    done = subprocess.run(cmd, cwd=clone, env=env, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, f"{done.stderr[-3000:]}\n{done.stdout[-3000:]}"
    run = json.loads(done.stdout)
    lint = run["jobs"]["lint"]
    assert lint["result"] == "success"
    assert lint["container"] == "python:3.11-bookworm"
    outcomes = {step["name"]: step["outcome"] for step in lint["steps"]}
    assert {k: outcomes[k] for k in ("Install", "Locks agree with pyproject.toml", "Ruff", "Types")} == dict.fromkeys(
        ("Install", "Locks agree with pyproject.toml", "Ruff", "Types"), "success"
    )
    venv = clone / ".venv"
    assert (venv / ".installed").is_file()
    assert venv.stat().st_uid == os.geteuid() if os.geteuid() != 0 else venv.stat().st_uid == UNPRIVILEGED
    # The job's venv is Debian's python, not the interpreter running this test.
    assert (venv / "bin" / "python").resolve() != Path(sys.executable).resolve()
