"""The committed locks: they agree with pyproject.toml, the check names a dependency added without relocking, and
a venv made from a lock holds exactly the lock and is rebuilt when the lock changes."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _locks_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pitlane_locks", ROOT / "scripts" / "locks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


locks = _locks_module()


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "locks", tmp_path / "locks")
    template = tmp_path / "templates" / "experiment" / "template"
    template.mkdir(parents=True)
    shutil.copy(ROOT / "templates" / "experiment" / "template" / "requirements.lock", template / "requirements.lock")
    return tmp_path


def _add_dependency(pyproject: Path, requirement: str) -> None:
    text = pyproject.read_text()
    pyproject.write_text(text.replace("dependencies = [\n", f'dependencies = [\n  "{requirement}",\n', 1))


def test_the_committed_locks_agree_with_pyproject() -> None:
    assert locks.check(ROOT) == []


def test_torch_is_locked_to_the_cpu_build_on_disk() -> None:
    assert str(locks.pins(ROOT / "locks" / "dev.txt")["torch"]) == "2.13.0+cpu"


def test_a_dependency_added_without_relocking_is_named(repo_copy: Path) -> None:
    _add_dependency(repo_copy / "pyproject.toml", "left-pad-nowhere>=1")
    problems = locks.check(repo_copy)
    assert problems, "a new dependency must fail the check"
    assert all("left-pad-nowhere" in p for p in problems)
    assert len(problems) == 2  # once for the dev lock, once for the runtime lock


def test_a_range_the_lock_no_longer_satisfies_is_named(repo_copy: Path) -> None:
    pyproject = repo_copy / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"rich>=13"', '"rich>=999"'))
    problems = locks.check(repo_copy)
    assert any("rich is locked at" in p and ">=999" in p for p in problems)


def test_a_stale_template_lock_is_reported(repo_copy: Path) -> None:
    (repo_copy / "templates" / "experiment" / "template" / "requirements.lock").write_text("# old\n")
    assert locks.check(repo_copy) == ["templates/experiment/template/requirements.lock differs from locks/runtime.txt"]


def test_the_check_command_prints_one_line_per_problem(repo_copy: Path) -> None:
    _add_dependency(repo_copy / "pyproject.toml", "left-pad-nowhere>=1")
    script = repo_copy / "scripts" / "locks.py"
    script.parent.mkdir()
    shutil.copy(ROOT / "scripts" / "locks.py", script)
    done = subprocess.run([sys.executable, str(script), "check"], capture_output=True, text=True)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("error: locks/") and "left-pad-nowhere" in line for line in lines)


def _one_package_lock(name: str) -> str:
    """The hash-pinned entry of one dependency-free package, cut from the dev lock."""
    text = (ROOT / "locks" / "dev.txt").read_text().splitlines()
    start = next(i for i, line in enumerate(text) if line.startswith(f"{name}=="))
    entry = [text[start]]
    for line in text[start + 1 :]:
        if not line.startswith("    --hash"):
            break
        entry.append(line)
    return "\n".join(entry).rstrip(" \\") + "\n"


def _venv_packages(venv: Path) -> set[str]:
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True
    ).stdout
    return {line.split("==")[0].lower() for line in out.splitlines()} - {"pip", "setuptools"}


def test_a_locked_venv_holds_the_lock_and_is_rebuilt_when_it_changes(tmp_path: Path) -> None:
    lock, venv = tmp_path / "tiny.txt", tmp_path / "venv"
    lock.write_text(_one_package_lock("six"))
    script = ROOT / "scripts" / "locked-venv.sh"
    subprocess.run(["bash", str(script), str(venv), str(lock)], check=True, capture_output=True)
    assert _venv_packages(venv) == {"six"}
    marker = venv / "marker"
    marker.write_text("kept while the lock is unchanged")
    again = subprocess.run(["bash", str(script), str(venv), str(lock)], check=True, capture_output=True, text=True)
    assert marker.exists() and again.stderr == ""

    lock.write_text(_one_package_lock("idna"))
    subprocess.run(["bash", str(script), str(venv), str(lock)], check=True, capture_output=True)
    assert not marker.exists()
    assert _venv_packages(venv) == {"idna"}


def test_a_lock_with_a_wrong_hash_is_refused(tmp_path: Path) -> None:
    lock, venv = tmp_path / "bad.txt", tmp_path / "venv"
    entry = _one_package_lock("six")
    lock.write_text(entry.split("--hash=sha256:")[0] + "--hash=sha256:" + "0" * 64 + "\n")
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "locked-venv.sh"), str(venv), str(lock)], capture_output=True, text=True
    )
    assert done.returncode != 0 and "HASH" in done.stderr.upper()
    assert not (venv / ".lock-sha256").exists()
