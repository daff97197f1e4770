"""Events through the data repo: ingest derives them, search finds the minutes, slices cut them, reindex redoes them."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.conftest import BAGS
from tests.data.drives import S, random_drive, write_drive
from toolkit.cli.main import app
from toolkit.data.catalog_events import event_stats
from toolkit.data.derive import reindex_events
from toolkit.data.ingest import add_bags, remove_bags, resolve_bag
from toolkit.data.repo import DataRepo, init_repo
from toolkit.data.search import search
from toolkit.data.signalfile import read_series
from toolkit.data.slicing import slice_search
from toolkit.errors import QueryError

T0 = 1_735_689_600 * S


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> DataRepo:
    r = init_repo(tmp_path_factory.mktemp("events") / "drives")
    drive = random_drive(21, T0, duration_s=120)
    write_drive(drive, r.root / "bags" / "drive", "mcap")
    shutil.copy2(BAGS / "sensors/husky_gps_imu.bag", r.root / "bags" / "husky.bag")
    report = add_bags(r, [r.root / "bags"])
    assert len(report.added) == 2, report.failed
    r.drive = drive  # type: ignore[attr-defined]
    yield r
    r.close()


def _ls_files(repo: DataRepo) -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=repo.root, capture_output=True, text=True, check=True).stdout
    return out.split()


def test_ingest_writes_and_commits_the_series_and_events(repo: DataRepo) -> None:
    drive = resolve_bag(repo, "bags/drive")
    assert drive.signals is not None and drive.signals.file == "bags/drive.signals.parquet"
    assert drive.signals.sources["speed_mps"] == "/odom" and drive.signals.max_speed_mps > 12
    assert {"bags/drive.signals.parquet", "bags/husky.bag.signals.parquet"} <= set(_ls_files(repo))
    kinds = {e.kind for e in drive.events}
    assert {"hard_brake", "stop", "sharp_turn", "gap", "rate_drop", "late", "zero_size"} <= kinds
    series = read_series(repo.root / drive.signals.file)
    assert len(series) == drive.signals.rows


def test_event_search_lists_bags_and_their_minutes(repo: DataRepo) -> None:
    resp = search(repo.catalog, "event:hard_brake")
    [hit] = resp.results
    assert hit.path == "bags/drive"
    want = [(e.start_ns, e.end_ns) for e in resolve_bag(repo, "bags/drive").events if e.kind == "hard_brake"]
    assert [(h.start_ns, h.end_ns) for h in hit.events] == want and want
    assert all(h.kind == "hard_brake" and h.value < -3 for h in hit.events)
    first = hit.events[0]
    start_ns = resolve_bag(repo, "bags/drive").summary.start_ns
    assert first.offset_s == pytest.approx((first.start_ns - start_ns) / 1e9)


def test_topic_beside_a_health_event_narrows_it_to_that_topic(repo: DataRepo) -> None:
    [hit] = search(repo.catalog, "event:gap topic:/lidar").results
    assert hit.events and {h.topic for h in hit.events} == {"/lidar"}
    both = search(repo.catalog, "event:gap").results[0]
    assert {h.topic for h in both.events} >= {"/lidar", "/fix"}
    none = search(repo.catalog, "event:gap topic:/imu/data")
    assert none.results == [] and any("no bag has event gap on /imu/data" in h for h in none.hints)
    # Vehicle events have no topic: a topic term beside one only filters bags.
    stops = {r.path for r in search(repo.catalog, "event:stop topic:/fix").results}
    assert stops == {"bags/husky.bag", "bags/drive"}


def test_negation_and_or_over_events(repo: DataRepo) -> None:
    assert [r.path for r in search(repo.catalog, "-event:hard_brake").results] == ["bags/husky.bag"]
    both = {r.path for r in search(repo.catalog, "event:hard_brake OR event:stop").results}
    assert both == {"bags/drive", "bags/husky.bag"}


def test_speed_terms_find_bags_and_ranges_from_the_series(repo: DataRepo) -> None:
    resp = search(repo.catalog, "speed>50kmh", root=repo.root)
    [hit] = resp.results
    assert hit.path == "bags/drive" and hit.events
    drive = repo.drive  # type: ignore[attr-defined]
    for h in hit.events:
        assert h.kind == "speed" and h.value > 50 / 3.6
        mid = np.array([(h.start_ns + h.end_ns) // 2 - T0])
        assert drive.speed_at(mid)[0] > 50 / 3.6 - 0.5  # the true speed in the middle of the range
    assert search(repo.catalog, "speed<0.5kmh").results  # both bags stand still at some point
    assert search(repo.catalog, "speed>200kmh").results == []


@pytest.mark.parametrize(
    ("query", "needle"),
    [("event:brake", "unknown kind"), ("speed>50", "not a number with a unit"), ("event>3", "takes ':'")],
)
def test_bad_event_terms_are_one_line(repo: DataRepo, query: str, needle: str) -> None:
    with pytest.raises(QueryError) as info:
        search(repo.catalog, query)
    assert needle in str(info.value)


def test_cli_json_lists_event_ranges(repo: DataRepo) -> None:
    res = CliRunner().invoke(app, ["data", "search", "--json", "event:sharp_turn", "-C", str(repo.root)])
    assert res.exit_code == 0, res.stderr
    [doc] = json.loads(res.stdout)
    assert doc["path"] == "bags/drive" and doc["events"]
    assert {"kind", "start", "end", "offset_s", "duration_s", "value", "topic"} <= set(doc["events"][0])


def test_slice_from_search_cuts_one_slice_per_event_window(repo: DataRepo) -> None:
    hits = search(repo.catalog, "event:hard_brake").results[0].events
    made = slice_search(repo, "event:hard_brake", repo.root / "slices", pad="2s", topics=["/odom"])
    assert len(made) == len(hits)  # the drive's hard brakes are far apart: no windows merge
    for sc, h in zip(made, hits, strict=True):
        assert sc.lineage is not None
        assert sc.lineage["start_ns"] == h.start_ns - 2 * S and sc.lineage["end_ns"] == h.end_ns + 2 * S
        assert sc.path.startswith("slices/drive.hard_brake-")
        # Both ends are inclusive: odometry at 50 Hz on whole 20 ms ticks lands on them.
        assert sc.summary.start_ns >= h.start_ns - 2 * S and sc.summary.end_ns <= h.end_ns + 2 * S
        assert any(e.kind == "hard_brake" for e in sc.events)  # the slice's own ingest finds it again


def test_reindex_events_uses_new_thresholds_and_commits(repo: DataRepo) -> None:
    (repo.root / "pitlane.events.yaml").write_text("hard_brake:\n  decel_mps2: 50\n")
    try:
        report = reindex_events(repo)
        assert report.from_bags >= 2 and report.commit
        assert search(repo.catalog, "event:hard_brake").results == []
        # A bag that is not in the working tree keeps its health events; vehicle events come from its series.
        bag = repo.root / "bags" / "husky.bag"
        moved = bag.with_name("husky.away")
        bag.rename(moved)
        try:
            (repo.root / "pitlane.events.yaml").write_text("stop:\n  min_duration_s: 1000\n")
            report = reindex_events(repo)
            assert report.from_series >= 1
            husky = resolve_bag(repo, "bags/husky.bag")
            assert not any(e.kind == "stop" for e in husky.events)
        finally:
            moved.rename(bag)
    finally:
        (repo.root / "pitlane.events.yaml").unlink()
    res = CliRunner().invoke(app, ["data", "reindex", "--events", "-C", str(repo.root)])
    assert res.exit_code == 0, res.stderr
    assert search(repo.catalog, "event:hard_brake").results


def test_removing_a_bag_drops_its_events_and_counts(repo: DataRepo) -> None:
    def stop_bags() -> int:
        with repo.catalog.engine.connect() as conn:
            rows = conn.execute(event_stats.select().where(event_stats.c.kind == "stop")).all()
        return sum(r.bags for r in rows)

    before = stop_bags()
    remove_bags(repo, ["bags/husky.bag"])
    assert stop_bags() == before - 1
    assert not (repo.root / "bags" / "husky.bag.signals.parquet").exists()
    assert "bags/husky.bag.signals.parquet" not in _ls_files(repo)
    assert search(repo.catalog, "event:stop").results[0].path != "bags/husky.bag"


def test_fleet_counts_events_per_vehicle_and_day(repo: DataRepo) -> None:
    from toolkit.data.fleet import event_counts

    res = CliRunner().invoke(app, ["data", "tag", "bags/drive", "vehicle=odaiba-3", "-C", str(repo.root)])
    assert res.exit_code == 0, res.stderr
    drive = resolve_bag(repo, "bags/drive")
    # Slices made above are bags too (untagged: "(none)"); path: keeps to the source bags.
    counts = event_counts(repo.catalog, "event:hard_brake path:bags/*", by="vehicle")
    n = sum(1 for e in drive.events if e.kind == "hard_brake")
    assert [(c.group, c.kind, c.events, c.bags) for c in counts] == [("odaiba-3", "hard_brake", n, 1)]
    gaps = event_counts(repo.catalog, "event:gap topic:/lidar", by="vehicle")
    assert [c.events for c in gaps] == [sum(1 for e in drive.events if e.kind == "gap" and e.topic == "/lidar")]
    every = {(c.group, c.kind): c.events for c in event_counts(repo.catalog, "path:bags/*", by="vehicle")}
    assert every[("odaiba-3", "stop")] == sum(1 for e in drive.events if e.kind == "stop")
    by_day = event_counts(repo.catalog, "event:hard_brake path:bags/*", by="day")
    assert [(c.group, c.events) for c in by_day] == [("2025-01-01", n)]
    cmd = ["data", "fleet", "--json", "--by", "route", "event:stop", "-C", str(repo.root)]
    res = CliRunner().invoke(app, cmd)
    assert res.exit_code == 0, res.stderr
    assert {d["group"] for d in json.loads(res.stdout)} == {"(none)"}
