"""The one boundary rule: closed ranges, an open side for a missing bound, timestamp 0 like any other stamp."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcap.writer import Writer

from tests.bags.truth import full_read
from toolkit.bags import index, read_lineage, read_messages, slice_bag
from toolkit.bags.timebounds import TimeRange, resolve_range
from toolkit.errors import SliceRangeError

_STRING_DEF = "string data"


def _ros1_string(text: str) -> bytes:
    raw = text.encode()
    return len(raw).to_bytes(4, "little") + raw


def write_mcap(path: Path, stamps: list[int], *, stats_start: int | None = None) -> Path:
    """A ros1-profile MCAP of std_msgs/String on /s, one message per stamp (in the given order).

    *stats_start* overwrites the summary's message_start_time, as writers that treated a 0 start as
    "unset" did: the index then claims a later start than the first message.
    """
    with path.open("wb") as f:
        w = Writer(f, chunk_size=64)
        w.start(profile="ros1", library="test")
        sid = w.register_schema(name="std_msgs/String", encoding="ros1msg", data=_STRING_DEF.encode())
        ch = w.register_channel(topic="/s", message_encoding="ros1", schema_id=sid, metadata={"md5sum": _md5()})
        for i, t in enumerate(stamps):
            w.add_message(ch, log_time=t, publish_time=t, data=_ros1_string(f"m{i}"))
        if stats_start is not None:
            w._Writer__statistics.message_start_time = stats_start  # type: ignore[attr-defined]
        w.finish()
    return path


def _md5() -> str:
    return "992ce8a1687cec8c8bd883ec73ca41d1"  # std_msgs/String


@pytest.mark.parametrize(("fmt", "name"), [("mcap", "o.mcap"), ("ros1", "o.bag"), ("ros2", "o")])
def test_full_range_slice_keeps_the_message_at_t0(tmp_path: Path, fmt: str, name: str) -> None:
    src = write_mcap(tmp_path / "sim.mcap", list(range(0, 100_000, 1000)))
    r = slice_bag(src, tmp_path / name, fmt=fmt)
    got = [(m.timestamp_ns, m.data) for m in read_messages(tmp_path / name)]
    assert r.message_count == len(got) == 100
    assert got[0][0] == 0 and r.start_ns == 0 and r.end_ns == 99_000


@pytest.mark.parametrize(("fmt", "name"), [("mcap", "o.mcap"), ("ros1", "o.bag"), ("ros2", "o")])
def test_no_bounds_mean_the_whole_bag_even_when_the_index_claims_a_later_start(
    tmp_path: Path, fmt: str, name: str
) -> None:
    src = write_mcap(tmp_path / "old.mcap", [0, 1000, 2000, 3000], stats_start=1000)
    assert index(src, hashes=False).start_ns == 1000  # what the file's summary says
    r = slice_bag(src, tmp_path / name, fmt=fmt)
    assert [m.timestamp_ns for m in read_messages(tmp_path / name)] == [0, 1000, 2000, 3000]
    assert r.message_count == 4
    assert (read_lineage(tmp_path / name).start_ns, r.start_ns) == (0, 0)  # the range written, not the claim


def test_bounds_are_inclusive_and_keep_every_message_on_a_boundary_stamp(tmp_path: Path) -> None:
    stamps = [0, 0, 0, 5, 5, 7, 9, 9]
    src = write_mcap(tmp_path / "ties.mcap", stamps)
    for lo, hi in [(0, 0), (0, 5), (5, 5), (5, 9), (9, 9), (1, 8)]:
        out = tmp_path / f"s_{lo}_{hi}.bag"
        r = slice_bag(src, out, start=lo, end=hi, fmt="ros1")
        expected = [t for t in stamps if lo <= t <= hi]
        assert [m.timestamp_ns for m in read_messages(out)] == expected
        assert r.message_count == len(expected)
    with pytest.raises(SliceRangeError, match="no messages"):
        slice_bag(src, tmp_path / "gap.bag", start=1, end=4)


def test_read_messages_uses_the_same_closed_range(tmp_path: Path) -> None:
    src = write_mcap(tmp_path / "ties.mcap", [0, 0, 3, 3, 6])
    assert [m.timestamp_ns for m in read_messages(src, start_ns=0, end_ns=3)] == [0, 0, 3, 3]
    assert [m.timestamp_ns for m in read_messages(src, start_ns=3)] == [3, 3, 6]
    assert [m.timestamp_ns for m in read_messages(src, end_ns=0)] == [0, 0]
    assert list(read_messages(src, start_ns=4, end_ns=3)) == []


def test_unsorted_chunks_come_out_in_time_order(tmp_path: Path) -> None:
    stamps = [50, 60, 0, 10, 70, 20, 0]
    src = write_mcap(tmp_path / "unsorted.mcap", stamps)
    for fmt, name in [("mcap", "o.mcap"), ("ros1", "o.bag"), ("ros2", "o")]:
        slice_bag(src, tmp_path / name, fmt=fmt)
        got = [m.timestamp_ns for m in read_messages(tmp_path / name)]
        assert got == sorted(stamps)
        assert sorted(m.timestamp_ns for m in full_read(tmp_path / name)) == sorted(stamps)


def test_time_range_rule() -> None:
    assert TimeRange().unbounded and TimeRange(0, None).contains(0) and not TimeRange(1, 2).contains(0)
    assert TimeRange(0, 0).contains(0) and TimeRange(0, 0).stop() == 1 and TimeRange().stop() is None
    assert resolve_range(None, None, 0, 10) == TimeRange(None, None)
    assert resolve_range(0, 0, 0, 10) == TimeRange(0, 0)  # 0 is a stamp, not "no bound"
    assert resolve_range("+0s", "-0s", 5, 10) == TimeRange(5, 10)
    with pytest.raises(SliceRangeError, match="after its end"):
        resolve_range(7, 6, 0, 10)
    with pytest.raises(SliceRangeError, match="outside the bag"):
        resolve_range(11, None, 0, 10)
