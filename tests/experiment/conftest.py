"""Experiment repos rendered from the real template, with real git and the real dvc CLI.

Rendering (copier + git + dvc init) and a first pipeline run cost seconds, so
each is done once per session and tests work on copies.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BAGS
from toolkit.experiment import container

VENV_BIN = Path(sys.executable).parent
PITLANE = str(VENV_BIN / "pitlane")
RAW = BAGS / "sensors" / "spot_cameras_raw.bag"
COMPRESSED = BAGS / "sensors" / "spot_cameras_compressed.bag"
# Small but crosses an epoch boundary (≈18 train batches per epoch of one dataset at batch 32).
MAX_STEPS = 24
CKPT_EVERY = 4


def tool_env(home: Path | None = None) -> dict[str, str]:
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", "DVC_NO_ANALYTICS": "1"}
    if home is not None:
        env["HOME"] = str(home)
    return env


def run_cli(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([PITLANE, *args], cwd=repo, env=tool_env(), capture_output=True, text=True)
    if check and done.returncode != 0:
        raise AssertionError(f"pitlane {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def dvc(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(VENV_BIN / "dvc"), *args], cwd=repo, env=tool_env(), capture_output=True, text=True)
    if check and done.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def set_yaml_value(path: Path, key: str, value: str) -> None:
    """Replace ``key: ...`` on its line (keeps the file's layout, like a person editing it)."""
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.split(":")[0].strip() == key:
            indent = line[: len(line) - len(line.lstrip())]
            lines[i] = f"{indent}{key}: {value}"
            break
    else:
        raise KeyError(key)
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="session")
def _session_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("exp-home")
    (home / ".gitconfig").write_text("[user]\n\tname = Pitlane Test\n\temail = test@pitlane.local\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        mp.setenv("DVC_NO_ANALYTICS", "1")
        mp.setenv("XDG_CACHE_HOME", str(USER_CACHE))
        yield home


REPO_ROOT = Path(__file__).resolve().parents[2]
# The user's cache (wheelhouse, pitlane wheels) outlives the session's temporary HOME: a session reuses them.
USER_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def container_engine() -> container.Engine | None:
    return container.detect()


@functools.cache
def ensure_base_image() -> str | None:
    """The Debian base image (scripts/base-image.sh, cached by its package list) where podman is installed.

    Without podman the pipeline tests run their stages on the host; the container tests fail (``podman`` fixture).
    """
    if container_engine() is None:
        return None
    done = subprocess.run(["bash", str(REPO_ROOT / "scripts" / "base-image.sh")], capture_output=True, text=True)
    if done.returncode != 0:
        raise AssertionError(f"scripts/base-image.sh failed:\n{done.stderr}")
    return done.stdout.strip()


@pytest.fixture(scope="session")
def base_image() -> str | None:
    return ensure_base_image()


@pytest.fixture(scope="session")
def podman(base_image: str | None) -> container.Engine:
    """The container tests need podman (and the base image): fail, never skip, naming what to install."""
    engine = container_engine()
    if engine is None or engine.name != "podman" or base_image is None:
        pytest.fail(f"container tests need podman: {container.INSTALL_HINT}", pytrace=False)
    return engine


@pytest.fixture(scope="session")
def rendered_repo(tmp_path_factory: pytest.TempPathFactory, _session_home: Path) -> Path:
    ensure_base_image()  # where podman is, the build stage of every run builds FROM it
    from toolkit.experiment.scaffold import init_experiment

    repo = tmp_path_factory.mktemp("rendered") / "exp"
    init_experiment(repo, data=[f"raw={RAW}"], name="cams", seed=7, max_steps=MAX_STEPS)
    conf = repo / "conf" / "trainer" / "default.yaml"
    set_yaml_value(conf, "checkpoint_every_n_steps", str(CKPT_EVERY))
    run_cli(repo, "compose")
    git(repo, "commit", "-qam", "test: checkpoint more often")
    return repo


@pytest.fixture(scope="session")
def trained_repo(tmp_path_factory: pytest.TempPathFactory, rendered_repo: Path) -> Path:
    repo = tmp_path_factory.mktemp("trained") / "exp"
    shutil.copytree(rendered_repo, repo, symlinks=True)
    done = run_cli(repo, "run")
    # Kept next to the repo (not in it): the container tests read where the first run's stages ran.
    (repo.parent / "first-run.log").write_text(done.stdout + done.stderr)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "test: first run")
    return repo


@pytest.fixture
def exp_repo(tmp_path: Path, rendered_repo: Path) -> Path:
    repo = tmp_path / "exp"
    shutil.copytree(rendered_repo, repo, symlinks=True)
    return repo


@pytest.fixture
def trained_copy(tmp_path: Path, trained_repo: Path) -> Path:
    repo = tmp_path / "trained"
    shutil.copytree(trained_repo, repo, symlinks=True)
    return repo
