"""slice_bag: exact messages in range, raw bytes kept, conversions keep content, lineage, atomic output."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.bags.truth import BAGS, Msg, full_read
from toolkit import __version__
from toolkit.bags import BagFormat, decode, index, read_lineage, read_messages, slice_bag
from toolkit.bags.writers import McapSink
from toolkit.errors import BagError, ConflictError, SliceRangeError


def _in_range(truth: list[Msg], lo: int, hi: int, topics: set[str] | None = None) -> list[tuple[str, int, bytes]]:
    return [
        (m.topic, m.timestamp_ns, m.data)
        for m in truth
        if lo <= m.timestamp_ns <= hi and (topics is None or m.topic in topics)
    ]


def _triples(path: Path) -> list[tuple[str, int, bytes]]:
    return [(m.topic, m.timestamp_ns, m.data) for m in full_read(path)]


@pytest.mark.parametrize(
    ("rel", "out_name"),
    [
        ("ros1/turtlesim_example-lz4.bag", "slice.bag"),
        ("ros1/turtlesim_example.bag", "slice.bag"),
        ("ros2_sqlite3/wbag_split5", "slice"),
        ("ros2_sqlite3/cdr_test", "slice"),
        ("mcap/bare_multiple_files_0.mcap", "slice.mcap"),
        ("mcap/cdr_test", "slice"),
        ("sensors/velodyne_vlp16_packets", "slice"),
    ],
)
def test_same_format_slice_has_exactly_the_messages_in_range(tmp_path: Path, rel: str, out_name: str) -> None:
    src = BAGS / rel
    truth = full_read(src)
    first, last = truth[0].timestamp_ns, truth[-1].timestamp_ns
    lo, hi = first + (last - first) // 4, first + 3 * (last - first) // 4
    out = tmp_path / out_name
    result = slice_bag(src, out, start=lo, end=hi)
    expected = _in_range(truth, lo, hi)
    assert result.message_count == len(expected) > 0
    assert result.format == index(src, hashes=False).format == index(out, hashes=False).format
    assert result.converted is False
    assert _triples(out) == expected


def test_relative_bounds_and_topic_globs(tmp_path: Path) -> None:
    src = BAGS / "ros1/turtlesim_example.bag"
    truth = full_read(src)
    start = truth[0].timestamp_ns
    out = tmp_path / "turtle1.bag"
    result = slice_bag(src, out, start="+5s", end="10.5", topics=["/turtle1/*"])
    wanted = {"/turtle1/cmd_vel", "/turtle1/color_sensor", "/turtle1/pose"}
    expected = _in_range(truth, start + 5_000_000_000, start + 10_500_000_000, wanted)
    assert _triples(out) == expected
    assert result.topics == sorted(wanted)
    assert result.per_topic == {t: sum(1 for e in expected if e[0] == t) for t in wanted}
    assert index(out, hashes=False).compression == "none"


def test_iso_bounds(tmp_path: Path) -> None:
    src = BAGS / "sensors/husky_gps_imu.bag"
    # 2015-05-21T19:11:38.025Z is the bag start; take 19:12:00 .. 19:12:30.
    result = slice_bag(src, tmp_path / "iso.bag", start="2015-05-21T19:12:00Z", end="2015-05-21T19:12:30+00:00")
    truth = full_read(src)
    lo, hi = 1432235520_000000000, 1432235550_000000000
    assert result.start_ns == lo and result.end_ns == hi
    assert _triples(tmp_path / "iso.bag") == _in_range(truth, lo, hi)
    assert index(tmp_path / "iso.bag", hashes=False).compression == "bz2"


def test_slice_keeps_source_compression(tmp_path: Path) -> None:
    slice_bag(BAGS / "ros1/turtlesim_example-lz4.bag", tmp_path / "lz4.bag", end="+3s")
    assert index(tmp_path / "lz4.bag", hashes=False).compression == "lz4"
    slice_bag(BAGS / "mcap/bare_multiple_files_0.mcap", tmp_path / "z.mcap", end="+1s")
    assert index(tmp_path / "z.mcap", hashes=False).compression == "zstd"


def test_ros1_to_mcap_to_ros1_keeps_bytes(tmp_path: Path) -> None:
    src = BAGS / "ros1/turtlesim_example.bag"
    mcap_out = tmp_path / "turtle.mcap"
    back = tmp_path / "back.bag"
    r1 = slice_bag(src, mcap_out)
    r2 = slice_bag(mcap_out, back)
    assert r1.format == BagFormat.MCAP and r2.format == BagFormat.ROS1
    assert not r1.converted and not r2.converted
    assert _triples(mcap_out) == _triples(src)
    assert _triples(back) == _triples(src)
    # The ROS 1 connection records survive (type, md5sum), so ROS 1 tools accept the bag again.
    from rosbags.rosbag1 import Reader

    with Reader(src) as a, Reader(back) as b:
        assert {(c.topic, c.msgtype, c.digest) for c in a.connections} == {
            (c.topic, c.msgtype, c.digest) for c in b.connections
        }


def _same_content(ros2_msg: Any, ros1_msg: Any) -> None:
    """Field by field over the ROS 2 message (ROS 1 Header.seq has no ROS 2 counterpart)."""
    if hasattr(ros2_msg, "__dataclass_fields__"):
        for name in ros2_msg.__dataclass_fields__:
            _same_content(getattr(ros2_msg, name), getattr(ros1_msg, name))
    elif isinstance(ros2_msg, np.ndarray):
        assert np.array_equal(ros2_msg, ros1_msg)
    elif isinstance(ros2_msg, list):
        assert len(ros2_msg) == len(ros1_msg)
        for a, b in zip(ros2_msg, ros1_msg, strict=True):
            _same_content(a, b)
    else:
        assert ros2_msg == ros1_msg


@pytest.mark.parametrize("rel", ["ros1/turtlesim_example.bag", "sensors/husky_gps_imu.bag"])
def test_ros1_to_ros2_and_back_keeps_content(tmp_path: Path, rel: str) -> None:
    src = BAGS / rel
    ros2 = tmp_path / "as_ros2"
    back = tmp_path / "back.bag"
    r = slice_bag(src, ros2, fmt="ros2", end="+20s")
    assert r.format == BagFormat.ROS2_SQLITE3 and r.converted
    slice_bag(ros2, back)
    originals = list(read_messages(src, end_ns=r.end_ns))
    converted = list(read_messages(ros2))
    returned = list(read_messages(back))
    assert len(originals) == len(converted) == len(returned) == r.message_count
    for o, c, b in zip(originals, converted, returned, strict=True):
        assert (o.topic, o.timestamp_ns) == (c.topic, c.timestamp_ns) == (b.topic, b.timestamp_ns)
        assert c.connection.encoding == "cdr"
        _same_content(decode(c), decode(o))
        _same_content(decode(c), decode(b))
    # ROS 1 type hashes survive the trip (ROS 1 tools check them on playback).
    from rosbags.rosbag1 import Reader

    with Reader(src) as a, Reader(back) as b:
        digests = {c.msgtype: c.digest for c in a.connections}
        assert {c.msgtype: c.digest for c in b.connections} == {c.msgtype: digests[c.msgtype] for c in b.connections}
    # Also readable by rosbags itself (the reference reader), with every type decodable.
    assert all(t.decodable for t in index(ros2, hashes=False).topics)
    assert len(full_read(ros2)) == r.message_count


def test_mcap_cdr_to_ros1(tmp_path: Path) -> None:
    src = BAGS / "mcap/cdr_test"
    out = tmp_path / "cdr.bag"
    r = slice_bag(src, out)
    assert r.converted and r.message_count == 7
    for a, b in zip(read_messages(src), read_messages(out), strict=True):
        _same_content(decode(a), decode(b))


def test_ros2_to_mcap_keeps_bytes(tmp_path: Path) -> None:
    src = BAGS / "ros2_sqlite3/wbag_split5"
    out = tmp_path / "w.mcap"
    r = slice_bag(src, out, topics=["AAA", "B*"])
    assert not r.converted
    assert _triples(out) == _in_range(full_read(src), 0, 2**63, {"AAA", "BBB"})


def test_undecodable_topic_copies_raw_but_cannot_convert(tmp_path: Path) -> None:
    src = BAGS / "sensors/velodyne_vlp16_packets"
    slice_bag(src, tmp_path / "v.mcap")
    assert _triples(tmp_path / "v.mcap") == _triples(src)
    with pytest.raises(BagError, match="cannot be converted"):
        slice_bag(src, tmp_path / "v.bag")
    assert not (tmp_path / "v.bag").exists()


def test_lineage_sidecar(tmp_path: Path) -> None:
    src = BAGS / "ros1/fake_sensors_sample.bag"
    out = tmp_path / "temp.bag"
    r = slice_bag(src, out, topics=["/my_temperature"])
    lineage = read_lineage(out)
    assert read_lineage(Path(r.lineage)) == lineage
    assert Path(r.lineage) == tmp_path / "temp.bag.lineage.json"
    assert lineage.source.md5 == hashlib.md5(src.read_bytes()).hexdigest()
    assert lineage.source.path == str(src.resolve())
    assert lineage.source.format == BagFormat.ROS1
    assert lineage.tool_version == __version__
    assert lineage.topics == ["/my_temperature"] and lineage.topic_patterns == ["/my_temperature"]
    assert lineage.message_count == 10 == lineage.per_topic["/my_temperature"]
    s = index(src, hashes=False)
    assert (lineage.start_ns, lineage.end_ns) == (s.start_ns, s.end_ns)


def test_known_source_md5_is_recorded_without_rehashing(tmp_path: Path) -> None:
    r = slice_bag(BAGS / "ros1/fake_sensors_sample.bag", tmp_path / "x.bag", source_md5="0" * 32)
    assert read_lineage(tmp_path / "x.bag").source.md5 == "0" * 32
    assert r.message_count == 20


def test_read_lineage_errors(tmp_path: Path) -> None:
    with pytest.raises(BagError, match="no lineage sidecar"):
        read_lineage(tmp_path / "nothing.bag")
    (tmp_path / "bad.bag.lineage.json").write_text("{not json")
    with pytest.raises(BagError, match="malformed"):
        read_lineage(tmp_path / "bad.bag")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"start": "+1000s"}, SliceRangeError, "outside the bag"),
        ({"end": 5}, SliceRangeError, "outside the bag"),  # 5 ns since the epoch
        ({"start": "+10s", "end": "+2s"}, SliceRangeError, "after its end"),
        ({"start": "yesterday"}, SliceRangeError, "cannot parse time bound"),
        ({"topics": ["/nope/*"]}, BagError, "no topic matches /nope/"),
        ({"fmt": "rosbag3"}, BagError, "unknown output format"),
    ],
)
def test_bad_requests_fail_in_one_line_and_write_nothing(
    tmp_path: Path, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    out = tmp_path / "out.bag"
    with pytest.raises(error, match=match) as err:
        slice_bag(BAGS / "ros1/turtlesim_example.bag", out, **kwargs)
    assert "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_not_overwritten_unless_asked(tmp_path: Path) -> None:
    out = tmp_path / "out.bag"
    out.write_bytes(b"precious")
    with pytest.raises(ConflictError):
        slice_bag(BAGS / "ros1/fake_sensors_sample.bag", out)
    assert out.read_bytes() == b"precious"
    slice_bag(BAGS / "ros1/fake_sensors_sample.bag", out, overwrite=True)
    assert index(out, hashes=False).message_count == 20


def test_ros2_output_must_be_a_directory_name(tmp_path: Path) -> None:
    with pytest.raises(BagError, match="directory"):
        slice_bag(BAGS / "ros2_sqlite3/cdr_test", tmp_path / "x.db3")


def test_empty_bag_cannot_be_sliced(tmp_path: Path) -> None:
    with pytest.raises(SliceRangeError, match="no messages"):
        slice_bag(BAGS / "ros2_sqlite3/empty_bag", tmp_path / "e")


def test_window_without_messages_of_selected_topics(tmp_path: Path) -> None:
    src = BAGS / "ros1/fake_sensors_sample.bag"
    s = index(src, hashes=False)
    assert s.start_ns is not None
    with pytest.raises(SliceRangeError, match="no messages of the selected topics"):
        slice_bag(src, tmp_path / "x.bag", start=s.start_ns + 1, end=s.start_ns + 2)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_slice_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulates Ctrl-C in the middle of writing (a real kill is timing-dependent); the writer is real.
    written = 0
    real_write = McapSink.write

    def interrupting_write(self: McapSink, handle: object, timestamp_ns: int, data: bytes) -> None:
        nonlocal written
        written += 1
        if written == 500:
            raise KeyboardInterrupt
        real_write(self, handle, timestamp_ns, data)

    monkeypatch.setattr(McapSink, "write", interrupting_write)
    with pytest.raises(KeyboardInterrupt):
        slice_bag(BAGS / "ros1/turtlesim_example.bag", tmp_path / "cut.mcap")
    assert written == 500
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("compression", ["none", "lz4", "bz2"])
def test_ros1_chunk_copy_and_rebuilt_edges(tmp_path: Path, compression: str) -> None:
    # Many small chunks: the middle ones are copied whole, the edge ones rebuilt from their records.
    from tests.bags.truth import multi_chunk_ros1

    src = multi_chunk_ros1(tmp_path / "src.bag", compression)
    truth = full_read(src)
    first, last = truth[0].timestamp_ns, truth[-1].timestamp_ns
    lo, hi = first + (last - first) // 3, first + 2 * (last - first) // 3
    out = tmp_path / "mid.bag"
    r = slice_bag(src, out, start=lo, end=hi)
    assert _triples(out) == _in_range(truth, lo, hi)
    assert r.message_count == len(_in_range(truth, lo, hi))
    assert index(out, hashes=False).compression == compression
    sub = tmp_path / "sub.bag"
    slice_bag(src, sub, start=lo, end=hi, topics=["/turtle1/pose", "/tf"])
    assert _triples(sub) == _in_range(truth, lo, hi, {"/turtle1/pose", "/tf"})
    # A whole-range slice of every topic is the same messages in the same chunks.
    whole = tmp_path / "whole.bag"
    slice_bag(src, whole)
    assert _triples(whole) == _triples(src)
    assert index(whole, hashes=False).model_dump(exclude={"path", "files", "size_bytes"}) == index(
        src, hashes=False
    ).model_dump(exclude={"path", "files", "size_bytes"})


@pytest.mark.parametrize("compression", ["none", "lz4", "zstd"])
def test_mcap_chunk_copy_and_rebuilt_edges(tmp_path: Path, compression: str) -> None:
    from mcap.reader import make_reader

    from tests.bags.truth import multi_chunk_mcap

    src = multi_chunk_mcap(tmp_path / "src.mcap", compression)
    truth = full_read(src)
    first, last = truth[0].timestamp_ns, truth[-1].timestamp_ns
    lo, hi = first + (last - first) // 3, first + 2 * (last - first) // 3
    for name, topics in (("mid.mcap", None), ("sub.mcap", ["/turtle1/pose", "/tf"])):
        out = tmp_path / name
        r = slice_bag(src, out, start=lo, end=hi, topics=topics)
        expected = _in_range(truth, lo, hi, None if topics is None else set(topics))
        assert _triples(out) == expected and r.message_count == len(expected)
        with out.open("rb") as f:  # CRCs of rebuilt chunks are right, and the summary is complete
            reader = make_reader(f, validate_crcs=True)
            assert sum(1 for _ in reader.iter_messages()) == len(expected)
            summary = reader.get_summary()
            assert summary is not None and summary.statistics is not None
            assert summary.statistics.message_count == len(expected)
        s = index(out, hashes=False)
        assert s.compression == ("none" if compression == "none" else compression)
        assert s.message_count == len(expected) and s.indexed_by == "index"
    whole = tmp_path / "whole.mcap"
    slice_bag(src, whole)
    assert _triples(whole) == _triples(src)
    assert index(whole, hashes=False).model_dump(exclude={"path", "files", "size_bytes"}) == index(
        src, hashes=False
    ).model_dump(exclude={"path", "files", "size_bytes"})


def test_message_compressed_rosbag2(tmp_path: Path) -> None:
    # rosbag2 "message" compression: every blob is zstd; index, read and slice see plain CDR.
    from rosbags.rosbag2 import CompressionFormat, CompressionMode, Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_HUMBLE)
    string = store.types["std_msgs/msg/String"]
    writer = Writer(tmp_path / "zbag", version=9)
    writer.set_compression(CompressionMode.MESSAGE, CompressionFormat.ZSTD)
    with writer:
        conn = writer.add_connection("/s", "std_msgs/msg/String", typestore=store)
        for i in range(20):
            writer.write(conn, 1000 + i, store.serialize_cdr(string(data=f"m{i}"), "std_msgs/msg/String"))
    s = index(tmp_path / "zbag")
    assert (s.compression, s.message_count) == ("zstd", 20)
    assert [decode(m).data for m in read_messages(tmp_path / "zbag")] == [f"m{i}" for i in range(20)]  # type: ignore[attr-defined]
    r = slice_bag(tmp_path / "zbag", tmp_path / "part", start=1005, end=1009)
    assert r.message_count == 5
    assert [decode(m).data for m in read_messages(tmp_path / "part")] == [f"m{i}" for i in range(5, 10)]  # type: ignore[attr-defined]
    assert index(tmp_path / "part").compression == "none"
