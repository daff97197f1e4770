"""Dataset fixtures: a Git repo with datasets built from the real fixture bags."""

from __future__ import annotations

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


@pytest.fixture
def spot(repo: Path) -> tuple[Path, mf.Manifest]:
    """Dataset 'spot' (v1): the 8 camera frames of the two Spot bags, classes car/person/sign."""
    manifest, _, _ = create_dataset("spot", [COMPRESSED, RAW], repo=repo, classes=["car", "person", "sign"],
                                    workers=1)
    return repo, manifest


def tag_message(repo: Path, tag: str) -> str:
    return subprocess.run(["git", "tag", "-l", "--format=%(contents)", tag], cwd=repo, check=True,
                          capture_output=True, text=True).stdout


def show(repo: Path, rev_path: str) -> bytes:
    return subprocess.run(["git", "show", rev_path], cwd=repo, check=True, capture_output=True).stdout
