"""A data repo on a small filesystem that fills up: one line, nothing partial, success once space is freed.

The repo lives on a size-limited tmpfs mounted by the test (we run as root); a filler
file leaves exactly the free space a case needs, and deleting it frees the space.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BAGS, mounted_tmpfs
from tests.data.conftest import git_status, pitlane
from toolkit.data.ingest import add_bags
from toolkit.data.journal import dvc_cache_partials
from toolkit.data.repo import DataRepo, init_repo

BIG = BAGS / "sensors" / "luminar_pointcloud.bag"  # 3.8 MB
SMALL = BAGS / "ros1" / "fake_sensors_sample.bag"


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    with mounted_tmpfs(tmp_path / "fs", "24m") as mnt:
        yield mnt


def leave_free(fs: Path, free: int) -> Path:
    """Fill `fs` so that about `free` bytes stay free; delete the returned file to free the space again."""
    filler = fs / "filler"
    filler.unlink(missing_ok=True)
    st = os.statvfs(fs)
    size = st.f_bavail * st.f_frsize - free
    with filler.open("wb") as fh:
        fh.truncate(0)
        chunk = b"\0" * (1 << 20)
        while size > 0:
            n = min(size, len(chunk))
            fh.write(chunk[:n])
            size -= n
    return filler


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


def no_litter(repo: DataRepo) -> None:
    assert not (repo.root / ".pitlane" / "staging").exists()
    assert not [p for p in repo.root.rglob("*.partial-*")]
    assert dvc_cache_partials(repo.root) == []
    assert git_status(repo) == []


def test_add_copy_into_a_full_disk_then_after_freeing_space(small_fs: Path, tmp_path: Path) -> None:
    repo = init_repo(small_fs / "repo")
    src = tmp_path / "usb"
    src.mkdir()
    shutil.copy2(BIG, src)
    shutil.copy2(SMALL, src)
    filler = leave_free(small_fs, 1 << 20)  # the small bag fits, the big one does not
    out, err = pitlane("data", "add", "--copy", str(src), "--json", "-C", str(repo.root), code=1)
    assert "no space left on device" in one_error_line(err)
    report = json.loads(out)
    assert [a["path"] for a in report["added"]] == ["bags/usb/fake_sensors_sample.bag"]
    assert not (repo.root / "bags" / "usb" / BIG.name).exists()
    no_litter(repo)

    filler.unlink()
    out, _ = pitlane("data", "add", "--copy", str(src), "--json", "-C", str(repo.root))
    assert [a["path"] for a in json.loads(out)["added"]] == [f"bags/usb/{BIG.name}"]
    assert len(repo.catalog.all_sidecars()) == 2
    no_litter(repo)
    repo.close()


def test_add_when_the_dvc_cache_does_not_fit(small_fs: Path, tmp_path: Path) -> None:
    repo = init_repo(small_fs / "repo")
    src = tmp_path / "usb"
    src.mkdir()
    shutil.copy2(BIG, src)
    # The staged copy fits, the second copy that `dvc add` puts in the cache does not.
    filler = leave_free(small_fs, BIG.stat().st_size + (1 << 20))
    _, err = pitlane("data", "add", "--copy", str(src), "-C", str(repo.root), code=1)
    assert "No space left on device" in one_error_line(err) or "no space left" in one_error_line(err).lower()
    assert not (repo.root / "bags" / "usb").exists()
    no_litter(repo)

    filler.unlink()
    pitlane("data", "add", "--copy", str(src), "-C", str(repo.root))
    assert [sc.path for sc in repo.catalog.all_sidecars()] == [f"bags/usb/{BIG.name}"]
    no_litter(repo)
    repo.close()


def test_slice_into_a_full_disk_then_after_freeing_space(small_fs: Path) -> None:
    repo = init_repo(small_fs / "repo")
    shutil.copy2(BIG, repo.root / "bags" / "big.bag")
    add_bags(repo, [repo.root / "bags" / "big.bag"])
    filler = leave_free(small_fs, 512 << 10)
    args = ["data", "slice", "bags/big.bag", "-o", str(repo.root / "slices" / "all.bag"), "-C", str(repo.root)]
    _, err = pitlane(*args, code=1)
    assert "no space left on device" in one_error_line(err)
    assert not (repo.root / "slices").exists()
    no_litter(repo)

    filler.unlink()
    pitlane(*args)
    assert (repo.root / "slices" / "all.bag").exists()
    no_litter(repo)
    repo.close()
