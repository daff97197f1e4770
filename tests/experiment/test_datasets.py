"""Dataset references: a local path, or a path in a Git/DVC data repo at a pinned revision (real git + dvc)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.experiment.conftest import RAW, VENV_BIN
from toolkit.errors import DatasetError
from toolkit.experiment.datasets import materialize
from toolkit.experiment.plan import DatasetPlace, RunPlan
from toolkit.experiment.spec import DatasetRef


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def data_repo(tmp_path: Path) -> Path:
    """A DVC data repo: the bag is `dvc add`ed (object in the repo's cache), tagged v1, then replaced at HEAD."""
    repo = tmp_path / "data"
    (repo / "bags").mkdir(parents=True)
    _git(repo, "init", "-q")
    subprocess.run([str(VENV_BIN / "dvc"), "init", "-q"], cwd=repo, check=True)
    shutil.copyfile(RAW, repo / "bags" / "cams.bag")
    subprocess.run([str(VENV_BIN / "dvc"), "add", "-q", "bags/cams.bag"], cwd=repo, check=True)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "cams v1")
    _git(repo, "tag", "v1")
    (repo / "bags" / "cams.bag").write_bytes(b"not the v1 bag")
    subprocess.run([str(VENV_BIN / "dvc"), "add", "-q", "bags/cams.bag"], cwd=repo, check=True)
    _git(repo, "commit", "-qam", "cams v2")
    return repo


def test_remote_ref_fetches_the_pinned_revision(data_repo: Path, tmp_path: Path) -> None:
    ref = DatasetRef(repo=str(data_repo), rev="v1", path="bags/cams.bag")
    with materialize("cams", ref, tmp_path) as source:
        assert source.path.read_bytes() == RAW.read_bytes()
        record = source.record()
    assert record["commit"] == _git(data_repo, "rev-parse", "v1")
    assert record["md5"] == hashlib.md5(RAW.read_bytes()).hexdigest()
    assert not source.path.exists()  # fetched into a temp dir for the task only


def test_record_after_the_task_still_names_the_fetched_content(data_repo: Path, tmp_path: Path) -> None:
    # src/process.py writes its meta.json after the fetched copy is gone: the md5 must survive that.
    ref = DatasetRef(repo=str(data_repo), rev="v1", path="bags/cams.bag")
    with materialize("cams", ref, tmp_path) as source:
        pass
    assert source.record()["md5"] == hashlib.md5(RAW.read_bytes()).hexdigest()


def test_unknown_revision_is_one_clear_error(data_repo: Path, tmp_path: Path) -> None:
    ref = DatasetRef(repo=str(data_repo), rev="v9", path="bags/cams.bag")
    with (
        pytest.raises(DatasetError, match=r"^dataset cams: cannot fetch bags/cams.bag from .*@v9: ") as info,
        materialize("cams", ref, tmp_path),
    ):
        pass
    assert "\n" not in str(info.value)


def test_local_paths_are_checked(tmp_path: Path) -> None:
    refs = {
        "here": DatasetRef(path=str(RAW)),
        "gone": DatasetRef(path="missing.bag"),
        "remote": DatasetRef(path="x", repo="r", rev="v1"),
    }
    places = {name: DatasetPlace(ref.path, ref.repo) for name, ref in refs.items()}
    assert RunPlan(datasets=places, resources={}).missing_local(tmp_path) == ["gone"]
    with (
        pytest.raises(DatasetError, match=r"^dataset gone: path missing\.bag does not exist$"),
        materialize("gone", refs["gone"], tmp_path),
    ):
        pass
