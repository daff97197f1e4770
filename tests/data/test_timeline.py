"""Message-rate timelines from the index agree with a full read of the real fixture bags."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import BAGS
from toolkit.bags import index, read_messages
from toolkit.data.timeline import message_timeline


def full_read_counts(path: Path, start: int, bucket_ns: int, buckets: int) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for msg in read_messages(path):
        counts = out.setdefault(msg.topic, [0] * buckets)
        counts[min(max((msg.timestamp_ns - start) // bucket_ns, 0), buckets - 1)] += 1
    return out


@pytest.mark.parametrize(
    "fixture",
    [
        "ros1/turtlesim_example-lz4.bag",  # IndexData records inside lz4 chunks
        "sensors/husky_gps_imu.bag",
        "mcap/bare_multiple_files_0.mcap",  # MCAP message indexes
        "mcap/cdr_test",  # rosbag2 directory with MCAP storage
        "ros2_sqlite3/wbag_split5",  # five sqlite3 files: GROUP BY per file
    ],
)
def test_index_timeline_matches_full_read(fixture: str) -> None:
    path = BAGS / fixture
    summary = index(path, hashes=False, gnss=False)
    tl = message_timeline(summary, Path("/"), buckets=17)
    assert tl.source == "index"
    assert tl.buckets == 17 and tl.start_ns == summary.start_ns and tl.end_ns == summary.end_ns
    got = {t.topic: t.counts for t in tl.topics}
    want = full_read_counts(path, tl.start_ns, tl.bucket_ns, tl.buckets)
    assert got == {k: v for k, v in want.items()}
    assert sum(map(sum, got.values())) == summary.message_count


def test_damaged_index_falls_back_to_a_scan(tmp_path: Path) -> None:
    cut = tmp_path / "cut.bag"
    cut.write_bytes((BAGS / "ros1" / "turtlesim_example.bag").read_bytes()[:400_000])
    summary = index(cut, hashes=False, gnss=False)
    tl = message_timeline(summary, tmp_path, buckets=5)
    assert tl.source == "scan"
    assert sum(sum(t.counts) for t in tl.topics) == summary.message_count > 0


def test_empty_bag_has_an_empty_timeline() -> None:
    summary = index(BAGS / "ros1" / "no-messages.bag", hashes=False)
    tl = message_timeline(summary, Path("/"))
    assert tl.topics == [] and tl.buckets == 0
