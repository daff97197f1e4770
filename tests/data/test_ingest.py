"""Ingest with real git and dvc on the real fixture bags: good bags catalogued, bad ones reported, nothing partial."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BAGS
from toolkit.data.ingest import add_bags, reindex, remove_bags, resolve_bag, tag_bag
from toolkit.data.repo import DataRepo
from toolkit.data.search import search
from toolkit.data.sidecar import read_sidecar, sidecar_path
from toolkit.errors import DataRepoError, NotFoundError, UserError

from .conftest import copy_bag, git_status, head, truncated


def test_mixed_batch_catalogues_good_bags_and_reports_bad_ones(data_repo: DataRepo) -> None:
    good = [
        copy_bag(data_repo, "ros1/fake_sensors_sample.bag", "fake sensors ü.bag"),
        copy_bag(data_repo, "ros2_sqlite3/wbag_split5"),  # a split rosbag2 directory is one bag
        copy_bag(data_repo, "mcap/only_topics.mcap"),
        # Truncated but recoverable by a forward scan: catalogued, with the index's warning.
        truncated(data_repo, "ros1/turtlesim_example.bag", 400_000, "turtle cut.bag"),
    ]
    bad = [
        truncated(data_repo, "mcap/bare_multiple_files_0.mcap", 100, "cut.mcap"),
        truncated(data_repo, "ros1/turtlesim_example.bag", 3000, "cut.bag"),
        data_repo.root / "bags" / "empty.bag",
        data_repo.root / "bags" / "notes.txt",
    ]
    bad[2].write_bytes(b"")
    bad[3].write_text("not a bag\n")
    before = head(data_repo)

    # notes.txt is named explicitly (directories only yield bag suffixes), so it is tried and reported.
    report = add_bags(data_repo, [data_repo.root / "bags", bad[3]], workers=2)

    assert sorted(sc.path for sc in report.added) == sorted(data_repo.rel(p) for p in good)
    assert sorted(Path(p).name for p, _ in report.failed) == sorted(p.name for p in bad)
    assert all("\n" not in reason and reason for _, reason in report.failed)
    assert report.commit and report.commit != before
    # Nothing partial: the bad files stay untracked, with no sidecar and no .dvc file.
    assert git_status(data_repo) == sorted(f'?? "bags/{p.name}"' if " " in p.name else f"?? bags/{p.name}" for p in bad)
    for p in bad:
        assert not sidecar_path(p).exists()
        assert not (p.parent / (p.name + ".dvc")).exists()
    for p in good:
        assert (p.parent / (p.name + ".dvc")).exists()
        sc = read_sidecar(sidecar_path(p))
        assert sc.path == data_repo.rel(p)
        assert not Path(sc.summary.path).is_absolute()
        assert all(not Path(f).is_absolute() for f in sc.summary.files)
    assert data_repo.catalog.stats().bags == len(good)
    cut = resolve_bag(data_repo, "bags/turtle cut.bag")
    assert cut.summary.indexed_by == "scan" and any("recovered" in w for w in cut.summary.warnings)
    split = resolve_bag(data_repo, "bags/wbag_split5")
    assert len(split.summary.files) == 5 and split.summary.message_count == 6074
    # The bag's data is in the DVC cache: dvc sees nothing to commit.
    status = subprocess.run(
        [str(Path(sys.executable).parent / "dvc"), "status", "--json"],
        cwd=data_repo.root,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(status.stdout) == {}

    # Idempotent: the same bags again change nothing, not even HEAD.
    again = add_bags(data_repo, [data_repo.root / "bags"], workers=1)
    assert again.added == [] and len(again.already) == len(good)
    assert head(data_repo) == report.commit
    assert data_repo.catalog.stats().bags == len(good)


def test_same_content_under_another_name_is_already_ingested(data_repo: DataRepo) -> None:
    first = copy_bag(data_repo, "ros1/fake_sensors_sample.bag", "a.bag")
    add_bags(data_repo, [first])
    second = copy_bag(data_repo, "ros1/fake_sensors_sample.bag", "b.bag")
    report = add_bags(data_repo, [second])
    assert report.added == [] and report.already == [(str(second), "bags/a.bag")]
    assert not sidecar_path(second).exists()


def test_paths_outside_the_repo_are_refused_unless_copied(data_repo: DataRepo) -> None:
    outside = BAGS / "ros1" / "test_bag_multiple_connections.bag"
    report = add_bags(data_repo, [outside])
    assert report.added == []
    assert "outside the data repo" in report.failed[0][1] and "--copy" in report.failed[0][1]
    assert git_status(data_repo) == []

    report = add_bags(data_repo, [outside, BAGS / "ros2_sqlite3" / "cdr_test"], copy=True)
    assert sorted(sc.path for sc in report.added) == ["bags/cdr_test", "bags/test_bag_multiple_connections.bag"]
    assert (data_repo.root / "bags" / "cdr_test" / "metadata.yaml").exists()
    with pytest.raises(DataRepoError, match=r"internal \.git/"):
        data_repo.rel(data_repo.root / ".git" / "config")


def test_tag_updates_sidecar_catalog_and_git(data_repo: DataRepo) -> None:
    bag = copy_bag(data_repo, "ros2_sqlite3/cdr_test")
    [sc] = add_bags(data_repo, [bag], tags={"vehicle": "odaiba-3"}).added
    before = head(data_repo)
    tag_bag(data_repo, "bags/cdr_test/", {"weather": "light rain"})
    assert head(data_repo) != before
    assert read_sidecar(sidecar_path(bag)).tags == {"vehicle": "odaiba-3", "weather": "light rain"}
    assert [r.path for r in search(data_repo.catalog, 'weather:"light rain" vehicle:odaiba-3').results] == [sc.path]
    tag_bag(data_repo, sc.id[:8], {}, remove=["vehicle"])  # by id prefix
    assert search(data_repo.catalog, "vehicle:odaiba-3").results == []
    assert git_status(data_repo) == []
    with pytest.raises(NotFoundError):
        tag_bag(data_repo, sc.id, {}, remove=["nope"])
    with pytest.raises(UserError, match="tag key"):
        tag_bag(data_repo, sc.id, {"bad key": "x"})


def test_rm_untracks_and_drops_catalog_rows(data_repo: DataRepo) -> None:
    keep = copy_bag(data_repo, "mcap/only_topics.mcap")
    gone = copy_bag(data_repo, "ros1/fake_sensors_sample.bag")
    add_bags(data_repo, [keep, gone])
    remove_bags(data_repo, ["bags/fake_sensors_sample.bag"])
    assert not gone.exists() and not sidecar_path(gone).exists()
    assert [s.path for s in data_repo.catalog.all_sidecars()] == ["bags/only_topics.mcap"]
    assert git_status(data_repo) == []
    with pytest.raises(NotFoundError):
        remove_bags(data_repo, ["bags/fake_sensors_sample.bag"])


def test_reindex_from_sidecars_reproduces_the_catalog(data_repo: DataRepo) -> None:
    bags = [copy_bag(data_repo, f) for f in ("sensors/husky_gps_imu.bag", "mcap/cdr_test", "ros1/no-messages.bag")]
    add_bags(data_repo, bags, tags={"route": "loop-a"})
    tag_bag(data_repo, "bags/husky_gps_imu.bag", {"vehicle": "husky"})
    before = data_repo.catalog.snapshot()
    assert len(before) == 3
    # The catalog is a cache: delete it entirely and rebuild from the sidecars in Git.
    data_repo.close()
    data_repo.catalog_path.unlink()
    assert reindex(DataRepo(data_repo.root)) == 3
    assert DataRepo(data_repo.root).catalog.snapshot() == before
    # A fresh clone has no catalog at all; the first use rebuilds it.
    clone = data_repo.root.parent / "clone"
    subprocess.run(["git", "clone", "-q", str(data_repo.root), str(clone)], check=True)
    assert DataRepo(clone).catalog.snapshot() == before
    husky = search(DataRepo(clone).catalog, "near:42.3765,-71.1475,200m").results
    assert [r.path for r in husky] == ["bags/husky_gps_imu.bag"]


def test_catalog_from_an_older_version_is_rebuilt(data_repo: DataRepo) -> None:
    import sqlite3

    bag = copy_bag(data_repo, "ros1/fake_sensors_sample.bag")
    add_bags(data_repo, [bag])
    data_repo.close()
    con = sqlite3.connect(data_repo.catalog_path)
    con.execute("PRAGMA user_version = 1")  # as written by an older pitlane
    con.execute("DELETE FROM catalog_bags")
    con.commit()
    con.close()
    fresh = DataRepo(data_repo.root)
    assert [s.path for s in fresh.catalog.all_sidecars()] == ["bags/fake_sensors_sample.bag"]
    assert [r.path for r in search(fresh.catalog, "fake").results] == ["bags/fake_sensors_sample.bag"]
    fresh.close()


def test_process_pool_and_in_process_index_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from toolkit.data import ingest

    bad = tmp_path / "bad.bag"
    bad.write_bytes(b"#ROSBAG V2.0\n" + b"\0" * 64)
    paths = [
        str(BAGS / "ros1" / "fake_sensors_sample.bag"),
        str(bad),
        str(BAGS / "ros2_sqlite3" / "wbag_split5"),
        str(BAGS / "mcap" / "only_topics.mcap"),
    ]
    serial = ingest.index_many(paths, workers=1)
    monkeypatch.setattr(ingest, "POOL_MIN_BYTES", 0)  # the fixtures are small: force the pool
    seen: list[int] = []
    pooled = ingest.index_many(paths, workers=2, progress=lambda done, total, _p: seen.append(done))
    assert seen == [1, 2, 3, 4]
    assert [(p, s.sha256 if s else None, e) for p, s, e in pooled] == [
        (p, s.sha256 if s else None, e) for p, s, e in serial
    ]
    assert serial[1][1] is None and serial[1][2] and "bad.bag" in serial[1][2]
