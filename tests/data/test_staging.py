"""`data add --copy` is staged; leftovers of killed runs are undone by the next run and by `data fsck`.

Real fixture bags, real git and dvc, the CLI through Typer's runner.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import BAGS
from tests.data.conftest import git_status, head, pitlane
from toolkit.data.ingest import add_bags
from toolkit.data.journal import JOURNAL_NAME
from toolkit.data.repo import DataRepo, init_repo
from toolkit.partials import pid_alive

runner = CliRunner()
SPLIT = BAGS / "ros2_sqlite3" / "wbag_split5"


def dead_pid() -> int:
    pid = 4_000_000
    while pid_alive(pid):
        pid -= 1
    return pid


@pytest.fixture
def usb(tmp_path: Path) -> Path:
    """A vehicle's disk: .bag, .mcap, loose .db3 files, a rosbag2 directory with metadata.yaml, a truncated file."""
    usb = tmp_path / "usb"
    usb.mkdir()
    shutil.copy2(BAGS / "ros1" / "fake_sensors_sample.bag", usb)
    shutil.copy2(BAGS / "mcap" / "only_topics.mcap", usb)
    shutil.copy2(BAGS / "mcap" / "bare_multiple_files_0.mcap", usb)
    shutil.copy2(SPLIT / "wbag_2.db3", usb / "bare_topics_and_services.db3")
    shutil.copy2(SPLIT / "wbag_3.db3", usb / "drive_b.db3")
    shutil.copytree(BAGS / "ros2_sqlite3" / "cdr_test", usb / "cdr_test")
    (usb / "broken.mcap").write_bytes((BAGS / "mcap" / "cdr_test" / "cdr_test_0.mcap").read_bytes()[:64])
    return usb


@pytest.fixture
def repo(tmp_path: Path) -> DataRepo:
    r = init_repo(tmp_path / "data repo")
    yield r
    r.close()


GOOD = [
    "bags/usb/bare_multiple_files_0.mcap",
    "bags/usb/bare_topics_and_services.db3",
    "bags/usb/cdr_test",
    "bags/usb/drive_b.db3",
    "bags/usb/fake_sensors_sample.bag",
    "bags/usb/only_topics.mcap",
]


def test_copy_of_a_mixed_folder_adds_every_good_bag_and_reports_the_bad_one(repo: DataRepo, usb: Path) -> None:
    out, err = pitlane("data", "add", "--copy", str(usb), "--json", "-C", str(repo.root), code=1)
    report = json.loads(out)
    assert sorted(a["path"] for a in report["added"]) == GOOD
    assert [f["path"] for f in report["failed"]] == [str(usb / "broken.mcap")]
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "broken.mcap" in lines[0], err
    # Only what was accepted is in bags/; the staging area is gone; everything is committed.
    assert sorted(p.name for p in (repo.root / "bags" / "usb").iterdir() if not p.name.startswith(".")) == sorted(
        n for g in GOOD for n in (Path(g).name, Path(g).name + ".dvc", Path(g).name + ".pitlane.json")
    )
    assert not (repo.root / ".pitlane" / "staging").exists()
    assert git_status(repo) == []
    assert sorted(sc.path for sc in repo.catalog.all_sidecars()) == GOOD

    # The rerun is a no-op that says so, and still reports the bad file.
    before = head(repo)
    out, _ = pitlane("data", "add", "--copy", str(usb), "--json", "-C", str(repo.root), code=1)
    again = json.loads(out)
    assert again["added"] == [] and sorted(a["catalogued_as"] for a in again["already"]) == GOOD
    assert head(repo) == before and git_status(repo) == []


def test_a_failed_copy_leaves_nothing_in_bags(repo: DataRepo, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.bag").write_bytes(b"")
    (bad / "broken.mcap").write_bytes(b"\x89MCAP0\r\n" + b"\0" * 40)
    _, err = pitlane("data", "add", "--copy", str(bad), "-C", str(repo.root), code=1)
    assert err.count("error:") == 2
    assert not (repo.root / "bags" / "bad").exists()
    assert not (repo.root / ".pitlane" / "staging").exists()
    assert git_status(repo) == []


def test_a_name_taken_by_other_content_fails_alone(repo: DataRepo, tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "usb", tmp_path / "b" / "usb"
    first.mkdir(parents=True)
    second.mkdir(parents=True)
    shutil.copy2(BAGS / "ros1" / "no-messages.bag", first / "drive.bag")
    shutil.copy2(BAGS / "ros1" / "fake_sensors_sample.bag", second / "drive.bag")
    shutil.copy2(BAGS / "mcap" / "only_topics.mcap", second)
    pitlane("data", "add", "--copy", str(first), "-C", str(repo.root))
    out, err = pitlane("data", "add", "--copy", str(second), "--json", "-C", str(repo.root), code=1)
    assert [a["path"] for a in json.loads(out)["added"]] == ["bags/usb/only_topics.mcap"]
    assert "bags/usb/drive.bag already exists in the repo with other content" in err
    assert (repo.root / "bags" / "usb" / "drive.bag").read_bytes() == (first / "drive.bag").read_bytes()
    assert git_status(repo) == []


def _killed_copy_run(repo: DataRepo, usb: Path) -> int:
    """What `data add --copy` leaves when killed after moving a bag in: its lock PID, staging, journal."""
    pid = dead_pid()
    staging = repo.root / ".pitlane" / "staging" / str(pid)
    shutil.copytree(usb, staging / "copy" / "usb")
    moved = repo.root / "bags" / "usb" / "only_topics.mcap"
    moved.parent.mkdir(parents=True)
    os.replace(staging / "copy" / "usb" / "only_topics.mcap", moved)
    (staging / JOURNAL_NAME).write_text(
        json.dumps({"kind": "bag", "path": "bags/usb/only_topics.mcap", "copied": True}) + '\n{"kind": "ba'
    )
    (repo.root / ".pitlane" / "lock").write_text(f"{pid}\n")
    (repo.root / ".git" / "index.lock").write_text("")
    return pid


def test_the_next_add_undoes_a_killed_copy_then_adds(repo: DataRepo, usb: Path) -> None:
    _killed_copy_run(repo, usb)
    out, _ = pitlane("data", "add", "--copy", str(usb), "--json", "-C", str(repo.root), code=1)
    assert sorted(a["path"] for a in json.loads(out)["added"]) == GOOD
    assert not (repo.root / ".pitlane" / "staging").exists()
    assert not (repo.root / ".git" / "index.lock").exists()
    assert git_status(repo) == []


def test_fsck_lists_leftovers_and_fix_removes_them(repo: DataRepo, usb: Path) -> None:
    pid = _killed_copy_run(repo, usb)
    partial = repo.root / "slices" / f".cut.bag.partial-{pid}"
    partial.mkdir(parents=True)
    (partial / "cut.bag").write_bytes(b"#ROSBAG V2.0\n")
    out, _ = pitlane("data", "fsck", "--json", "-C", str(repo.root), code=1)
    found = "\n".join(json.loads(out)["found"])
    assert f"pid {pid}" in found
    assert f".pitlane/staging/{pid}" in found
    assert f"slices/.cut.bag.partial-{pid}" in found
    assert ".git/index.lock" in found

    out, _ = pitlane("data", "fsck", "--fix", "--json", "-C", str(repo.root))
    assert "removed uncommitted copy bags/usb/only_topics.mcap" in json.loads(out)["fixed"]
    assert not (repo.root / "bags" / "usb").exists()
    assert not partial.exists() and not (repo.root / ".pitlane" / "staging").exists()
    assert git_status(repo) == []
    _, err = pitlane("data", "fsck", "-C", str(repo.root))
    assert "clean" in err


def test_fsck_finds_a_catalog_behind_the_sidecars(repo: DataRepo) -> None:
    shutil.copy2(BAGS / "ros1" / "no-messages.bag", repo.root / "bags" / "a.bag")
    add_bags(repo, [repo.root / "bags" / "a.bag"])
    repo.catalog.rebuild([])  # as after a kill between the commit and the catalog update
    _, out = pitlane("data", "fsck", "-C", str(repo.root), code=1)
    assert "catalog out of date: 0 bags catalogued, 1 sidecars" in out
    pitlane("data", "fsck", "--fix", "-C", str(repo.root))
    assert [sc.path for sc in repo.catalog.all_sidecars()] == ["bags/a.bag"]


def test_a_slice_clears_stale_partials_and_a_rerun_returns_the_same_slice(repo: DataRepo) -> None:
    shutil.copy2(BAGS / "ros1" / "fake_sensors_sample.bag", repo.root / "bags" / "fake.bag")
    add_bags(repo, [repo.root / "bags" / "fake.bag"])
    partial = repo.root / "slices" / f".cut.bag.partial-{dead_pid()}"
    partial.mkdir(parents=True)
    args = ["data", "slice", "bags/fake.bag", "-o", "slices/cut.bag", "--end", "1", "--json", "-C", str(repo.root)]
    cwd = Path.cwd()
    os.chdir(repo.root)
    try:
        first = json.loads(pitlane(*args)[0])
        commit = head(repo)
        again = json.loads(pitlane(*args)[0])
        _, err = pitlane(*[a if a != "1" else "2" for a in args], code=5)
    finally:
        os.chdir(cwd)
    assert not partial.exists()
    assert again == first and head(repo) == commit
    assert "already exists" in err
    lineage = json.loads((repo.root / "slices" / "cut.bag.lineage.json").read_text())
    assert lineage["source"]["path"] == "bags/fake.bag"  # portable: no absolute path of this clone
    assert git_status(repo) == []
