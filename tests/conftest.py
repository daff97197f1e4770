"""Shared fixtures. Every test runs with an isolated HOME and PITLANE_HOME.

Service fixtures (SeaweedFS S3, PostgreSQL, uvicorn, Chromium) live in
tests/services/ and are session-scoped: each starts once per test run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

pytest_plugins = [
    "tests.services.s3",
    "tests.services.browser",
    "tests.services.postgres",
    "tests.services.ray",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT / "tests" / "fixtures"
BAGS = FIXTURES / "bags"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PITLANE_HOME", str(home / "pitlane"))
    for var in ("PITLANE_REGISTRY_URL", "PITLANE_TOKEN", "PITLANE_DATABASE_URL", "PITLANE_RAY_ADDRESS"):
        monkeypatch.delenv(var, raising=False)
    # Real git needs an identity; a user would have one in ~/.gitconfig.
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Pitlane Test\n\temail = test@pitlane.local\n[init]\n\tdefaultBranch = main\n"
    )
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    # Tests play the admin who opted their temporary directories (and any S3 bucket) in; tests of the
    # policy itself pass their own settings.
    base = str(Path(tempfile.gettempdir()).resolve())  # pytest's temporary directories and tempfile's
    monkeypatch.setenv("PITLANE_ALLOWED_STORAGE", json.dumps([f"file://{base}/", "s3://"]))
    monkeypatch.setenv("PITLANE_ALLOWED_REMOTES", json.dumps(["https://", "ssh://", f"file://{base}/"]))
    yield home


@pytest.fixture
def bags_dir() -> Path:
    return BAGS


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    return repo


def have(tool: str) -> bool:
    return shutil.which(tool) is not None or os.path.exists(tool)


@contextmanager
def mounted_tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A size-limited tmpfs at ``where`` for disk-full tests (they run as root, as the test machines do).

    Mounting failing is an error, not a skip: the disk-full behaviour would otherwise go untested."""
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    if done.returncode != 0:
        pytest.fail(f"disk-full tests mount a tmpfs and need root: {done.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


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
