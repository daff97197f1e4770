from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import BAGS
from toolkit.cli.main import app
from toolkit.data.repo import DataRepo, init_repo

_runner = CliRunner()


def pitlane(*args: str, code: int = 0) -> tuple[str, str]:
    """``pitlane ARGS`` in-process; asserts the exit code and that no traceback reached the user."""
    result = _runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result.stdout, result.stderr


@pytest.fixture
def data_repo(tmp_path: Path) -> DataRepo:
    repo = init_repo(tmp_path / "data repo")  # a space in the repo path on purpose
    yield repo
    repo.close()


def copy_bag(repo: DataRepo, fixture: str, name: str | None = None) -> Path:
    src = BAGS / fixture
    dest = repo.root / "bags" / (name or src.name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dest)
    else:
        shutil.copy2(src, dest)
    return dest


def truncated(repo: DataRepo, fixture: str, n: int, name: str) -> Path:
    dest = repo.root / "bags" / name
    dest.write_bytes((BAGS / fixture).read_bytes()[:n])
    return dest


def git_status(repo: DataRepo) -> list[str]:
    out = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=repo.root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted(line for line in out.splitlines() if line)


def head(repo: DataRepo) -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo.root, capture_output=True, text=True, check=True
    ).stdout.strip()
