"""Event detectors against generated drives with known ground truth (precision, recall, boundaries)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.data.drives import MS, S, Truth, health_truth, random_drive, vehicle_truth, write_drive
from toolkit.bags.signals import Series, TopicTrace, extract, resample
from toolkit.data.eventmodel import BagEvent
from toolkit.data.events import (
    HEALTH_KINDS,
    KINDS,
    VEHICLE_KINDS,
    EventsConfig,
    health_events,
    load_config,
    runs,
    topic_health,
    vehicle_events,
)
from toolkit.errors import UserError

T0 = 1_735_689_600 * S  # 2025-01-01
# (format, seed, first stamp): the ROS 1 drive starts at t = 0, a valid stamp.
DRIVES = [("ros1", 11, 0), ("ros2", 12, T0), ("mcap", 13, T0 + 123_456_789)]


@pytest.fixture(scope="module")
def detected(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, list[BagEvent], list[Truth], Series]]:
    cfg = EventsConfig()
    out = []
    root = tmp_path_factory.mktemp("drives")
    for fmt, seed, t0 in DRIVES:
        drive = random_drive(seed, t0)
        bag = write_drive(drive, root / (f"drive_{fmt}.bag" if fmt == "ros1" else f"drive_{fmt}"), fmt)
        extraction = extract(bag)
        series = resample(extraction, cfg.period_ns)
        events = vehicle_events(series, cfg) + health_events(extraction, cfg)
        out.append((fmt, events, vehicle_truth(drive, cfg) + health_truth(drive), series))
    return out


def _tolerance(t: Truth) -> int:
    """One sample period: the series period for vehicle events, the topic's period for health events."""
    if t.kind in VEHICLE_KINDS:
        return EventsConfig().period_ns
    return 100 * MS if t.topic in {"/lidar"} else 200 * MS if t.topic == "/fix" else 10 * MS


def _match(found: list[BagEvent], truth: list[Truth]) -> tuple[int, list[Truth], list[BagEvent]]:
    used: set[int] = set()
    hits = 0
    missed = []
    for g in truth:
        tol = _tolerance(g)
        for i, e in enumerate(found):
            same = (e.kind, e.topic, e.detail) == (g.kind, g.topic, g.detail)
            if i not in used and same and abs(e.start_ns - g.start_ns) <= tol and abs(e.end_ns - g.end_ns) <= tol:
                used.add(i)
                hits += 1
                break
        else:
            missed.append(g)
    return hits, missed, [e for i, e in enumerate(found) if i not in used]


def test_precision_and_recall_per_detector(detected, tmp_path: Path) -> None:
    scores: dict[str, dict[str, float]] = {}
    for kind in KINDS:
        tp = fn = fp = 0
        for _fmt, events, truth, _ in detected:
            hits, missed, extra = _match([e for e in events if e.kind == kind], [t for t in truth if t.kind == kind])
            tp, fn, fp = tp + hits, fn + len(missed), fp + len(extra)
        assert tp + fn >= 4, f"{kind}: the generated drives hold too few true events to measure"
        scores[kind] = {"truth": tp + fn, "precision": tp / max(tp + fp, 1), "recall": tp / max(tp + fn, 1)}
    print(json.dumps(scores, indent=1))
    for kind, s in scores.items():
        assert s["precision"] >= 0.95 and s["recall"] >= 0.95, (kind, s)


def test_every_format_finds_every_hard_brake_of_its_drive(detected) -> None:
    # Checked per format, not pooled: ROS 1, sqlite3 and MCAP are read alike.
    for fmt, events, truth, _ in detected:
        found = [e for e in events if e.kind == "hard_brake"]
        _hits, missed, extra = _match(found, [t for t in truth if t.kind == "hard_brake"])
        assert not missed and not extra, (fmt, missed, extra)


def test_timestamp_zero_is_a_valid_start(detected) -> None:
    fmt, events, _truth, series = detected[0]
    assert fmt == "ros1" and int(series.t_ns[0]) == 0
    stops = [e for e in events if e.kind == "stop"]
    assert stops and stops[0].start_ns == 0  # the drive stands still for its first 3 s


def test_equal_stamps_and_tiny_topics_make_no_events() -> None:
    cfg = EventsConfig().health
    t = np.repeat(np.arange(0, 50, dtype=np.int64) * 100 * MS, 2)  # every message twice, t = 0 included
    trace = TopicTrace("/dup", "std_msgs/msg/String", "cdr", t, np.full(len(t), 100, dtype=np.int64))
    assert topic_health(trace, cfg) == []
    same = TopicTrace("/same", "x/msg/Y", "cdr", np.zeros(20, dtype=np.int64), np.full(20, 8, dtype=np.int64))
    assert topic_health(same, cfg) == []  # all stamps equal: no rate to judge, no crash
    few = TopicTrace("/few", "x/msg/Y", "cdr", np.array([0, 10 * S], dtype=np.int64), np.array([8, 8]))
    assert topic_health(few, cfg) == []


def test_empty_topic_of_empty_messages_is_not_flagged() -> None:
    # std_msgs/Empty carries nothing by design: zero_size only flags topics that normally carry data.
    t = np.arange(0, 30, dtype=np.int64) * 100 * MS
    trace = TopicTrace("/heartbeat", "std_msgs/msg/Empty", "ros1", t, np.zeros(30, dtype=np.int64))
    assert topic_health(trace, EventsConfig().health) == []


def test_runs_merge_and_bounds() -> None:
    assert runs(np.array([False, True, True, False, True])) == [(1, 2), (4, 4)]
    assert runs(np.array([True, False, True]), merge=1) == [(0, 2)]
    assert runs(np.array([], dtype=bool)) == []


def test_thresholds_come_from_the_repo_yaml(tmp_path: Path, detected) -> None:
    _fmt, _events, _truth, series = detected[1]
    (tmp_path / "pitlane.events.yaml").write_text("hard_brake:\n  decel_mps2: 50\nstop:\n  min_duration_s: 1000\n")
    cfg = load_config(tmp_path)
    assert cfg.hard_brake.decel_mps2 == 50 and cfg.sharp_turn.yaw_rate_rps == 0.3
    kinds = {e.kind for e in vehicle_events(series, cfg)}
    assert "hard_brake" not in kinds and "stop" not in kinds and "sharp_turn" in kinds
    assert load_config(tmp_path / "nowhere") == EventsConfig()


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("hard_brake:\n  decel: 3\n", "hard_brake.decel"),
        ("health:\n  gap_factor: 0.5\n", "gap_factor"),
        ("[1", "cannot read"),
    ],
)
def test_bad_yaml_is_one_line(tmp_path: Path, text: str, needle: str) -> None:
    (tmp_path / "pitlane.events.yaml").write_text(text)
    with pytest.raises(UserError) as info:
        load_config(tmp_path)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_kinds_are_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "data-search.md").read_text()
    for kind in [*VEHICLE_KINDS, *HEALTH_KINDS]:
        assert f"`{kind}`" in doc, kind


def test_event_driven_and_bursty_topics_have_no_rate_to_lose() -> None:
    cfg = EventsConfig().health
    rng = np.random.default_rng(3)
    commands = np.cumsum(rng.exponential(0.5 * S, 200)).astype(np.int64)  # a teleop topic: Poisson arrivals
    tf = np.sort(np.concatenate([np.arange(100) * 16 * MS + k * 1000 for k in range(3)]))  # bursts of 3 every 16 ms
    for name, t in (("/cmd_vel", commands), ("/tf", tf)):
        trace = TopicTrace(name, "x/msg/Y", "cdr", t.astype(np.int64), np.full(len(t), 64, dtype=np.int64))
        assert [e for e in topic_health(trace, cfg) if e.kind in {"gap", "rate_drop"}] == [], name
    # The same periodic topic with one real hole is judged: 10 Hz with 1 s missing.
    t = np.concatenate([np.arange(0, 50), np.arange(60, 100)]).astype(np.int64) * 100 * MS
    trace = TopicTrace("/lidar", "x/msg/Y", "cdr", t, np.full(len(t), 64, dtype=np.int64))
    [gap] = topic_health(trace, cfg)
    assert (gap.kind, gap.start_ns, gap.end_ns) == ("gap", 49 * 100 * MS, 60 * 100 * MS)
