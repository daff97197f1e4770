"""Dataset fixtures: a Git repo with datasets built from the real fixture bags."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.services.labelstudio import labelstudio  # noqa: F401 - session fixture for the live tests
from toolkit.datasets import manifest as mf
from toolkit.datasets.create import create_dataset

SENSORS = Path(__file__).resolve().parents[1] / "fixtures" / "bags" / "sensors"
COMPRESSED = SENSORS / "spot_cameras_compressed.bag"
RAW = SENSORS / "spot_cameras_raw.bag"
LIDAR = SENSORS / "luminar_pointcloud.bag"


def git_init(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return git_init(tmp_path / "work")


@pytest.fixture(scope="session")
def spot_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once per session (extraction + dvc are the slow part); tests get a copy."""
    home = tmp_path_factory.mktemp("spot-home")
    (home / ".gitconfig").write_text("[user]\n\tname = Pitlane Test\n\temail = test@pitlane.local\n")
    repo = git_init(tmp_path_factory.mktemp("spot-template") / "work")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        mp.setenv("PITLANE_HOME", str(home / "pitlane"))
        mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        mp.setenv("DVC_NO_ANALYTICS", "1")
        create_dataset("spot", [COMPRESSED, RAW], repo=repo, classes=["car", "person", "sign"], workers=1)
    return repo


@pytest.fixture
def spot(spot_template: Path, tmp_path: Path) -> tuple[Path, mf.Manifest]:
    """Dataset 'spot' (v1): the 8 camera frames of the two Spot bags, classes car/person/sign."""
    repo = tmp_path / "work"
    shutil.copytree(spot_template, repo, symlinks=True)
    return repo, mf.read(repo / "datasets" / "spot")


def tag_message(repo: Path, tag: str) -> str:
    return subprocess.run(
        ["git", "tag", "-l", "--format=%(contents)", tag], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


def show(repo: Path, rev_path: str) -> bytes:
    return subprocess.run(["git", "show", rev_path], cwd=repo, check=True, capture_output=True).stdout
