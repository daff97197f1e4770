"""index(): values from the index/summary equal a full read with the reference libraries."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import yaml

from tests.bags.truth import BAGS, EMPTY, NONEMPTY, counts_by_topic, full_read
from toolkit.bags import BagFormat, index
from toolkit.bags.summary import BagSummary

FORMATS = {
    "ros1": BagFormat.ROS1,
    "sensors/velodyne": BagFormat.ROS2_SQLITE3,
    "sensors/": BagFormat.ROS1,
    "ros2_sqlite3": BagFormat.ROS2_SQLITE3,
    "mcap": BagFormat.MCAP,
}


def _expected_format(rel: str) -> BagFormat:
    return next(fmt for prefix, fmt in FORMATS.items() if rel.startswith(prefix))


@pytest.mark.parametrize("rel", NONEMPTY)
def test_index_matches_full_read(rel: str) -> None:
    path = BAGS / rel
    truth = full_read(path)
    s = index(path, hashes=False)

    assert s.format == _expected_format(rel)
    assert s.indexed_by == "index"
    assert s.warnings == []
    assert s.message_count == len(truth)
    assert s.start_ns == truth[0].timestamp_ns
    assert s.end_ns == truth[-1].timestamp_ns
    assert {t.name: t.count for t in s.topics if t.count} == counts_by_topic(truth)
    assert s.size_bytes == sum(Path(f).stat().st_size for f in s.files)


@pytest.mark.parametrize("rel", EMPTY)
def test_empty_bags_index_without_messages(rel: str) -> None:
    s = index(BAGS / rel)
    assert s.message_count == 0
    assert s.start_ns is None and s.end_ns is None
    assert s.duration_s == 0.0
    assert all(t.count == 0 for t in s.topics)
    assert s.md5 == hashlib.md5(b"".join(Path(f).read_bytes() for f in s.files)).hexdigest()


def test_topic_types_are_ros2_spelling_and_frequencies_follow_counts() -> None:
    s = index(BAGS / "sensors/husky_gps_imu.bag", hashes=False, gnss=False)
    fix = s.topic("/fix")
    assert fix is not None
    assert fix.type == "sensor_msgs/msg/NavSatFix"
    assert fix.serialization == "ros1"
    assert fix.frequency_hz == pytest.approx(fix.count / s.duration_s, rel=1e-3)
    assert {t.name for t in s.topics} == {"/fix", "/imu/data", "/husky_velocity_controller/odom"}


def test_multiple_connections_per_topic_are_counted_together() -> None:
    s = index(BAGS / "ros1/test_bag_multiple_connections.bag", hashes=False)
    test_topic = s.topic("/test_topic")
    assert test_topic is not None and test_topic.connections == 2 and test_topic.count == 2


@pytest.mark.parametrize(
    ("rel", "compression"),
    [
        ("ros1/turtlesim_example.bag", "none"),
        ("ros1/turtlesim_example-lz4.bag", "lz4"),
        ("sensors/husky_gps_imu.bag", "bz2"),
        ("mcap/bare_multiple_files_0.mcap", "zstd"),
        ("mcap/cdr_test", "none"),
        ("ros2_sqlite3/cdr_test", "none"),
    ],
)
def test_compression_from_chunk_headers(rel: str, compression: str) -> None:
    assert index(BAGS / rel, hashes=False, gnss=False).compression == compression


def test_hashes_cover_storage_files_in_order() -> None:
    bag = BAGS / "ros2_sqlite3/wbag_split5"
    s = index(bag)
    data = b"".join((bag / f"wbag_{i}.db3").read_bytes() for i in range(5))
    assert s.md5 == hashlib.md5(data).hexdigest()
    assert s.sha256 == hashlib.sha256(data).hexdigest()
    assert [Path(f).name for f in s.files] == [f"wbag_{i}.db3" for i in range(5)]
    assert index(bag, hashes=False).md5 == ""


def test_split_bag_without_metadata_yaml_is_indexed_like_reindex(tmp_path: Path) -> None:
    src = BAGS / "ros2_sqlite3/wbag_split5"
    bag = tmp_path / "wbag"
    bag.mkdir()
    # Copy in reverse so directory order is not file order; names must decide (_10 after _9 too).
    for i in reversed(range(5)):
        shutil.copy(src / f"wbag_{i}.db3", bag / f"wbag_{i}.db3")
    s = index(bag, hashes=False)
    truth = full_read(src)
    assert s.message_count == len(truth)
    assert {t.name: t.count for t in s.topics} == counts_by_topic(truth)
    assert [Path(f).name for f in s.files] == [f"wbag_{i}.db3" for i in range(5)]


def test_counts_come_from_storage_not_metadata_yaml(tmp_path: Path) -> None:
    bag = tmp_path / "cdr_test"
    shutil.copytree(BAGS / "ros2_sqlite3/cdr_test", bag)
    meta = yaml.safe_load((bag / "metadata.yaml").read_text())
    info = meta["rosbag2_bagfile_information"]
    info["message_count"] = 999
    for entry in info["topics_with_message_count"]:
        entry["message_count"] = 0
    (bag / "metadata.yaml").write_text(yaml.safe_dump(meta))
    s = index(bag, hashes=False)
    assert s.message_count == 7
    assert {t.name: t.count for t in s.topics} == {"/array_topic": 4, "/test_topic": 3}


def test_undecodable_types_are_listed_and_flagged() -> None:
    s = index(BAGS / "sensors/velodyne_vlp16_packets", hashes=False)
    packets = s.topic("/velodyne_packets")
    assert packets is not None
    assert packets.type == "velodyne_msgs/msg/VelodyneScan"
    assert packets.count == 4
    assert packets.decodable is False
    assert all(t.decodable for t in index(BAGS / "mcap/cdr_test", hashes=False).topics)


def test_service_event_definition_does_not_break_listing(tmp_path: Path) -> None:
    # A service event type whose definition rosbags cannot parse: listing and counts must still work.
    from mcap.writer import Writer

    path = tmp_path / "events.mcap"
    with path.open("wb") as f:
        w = Writer(f)
        w.start(profile="ros2", library="test")
        bad = w.register_schema(
            name="example_interfaces/srv/AddTwoInts_Event",
            encoding="ros2msg",
            data=b"service_msgs/ServiceEventInfo info\nAddTwoInts_Request[<=1] request\n",
        )
        ok = w.register_schema(name="std_msgs/msg/String", encoding="ros2msg", data=b"string data\n")
        ch_bad = w.register_channel(topic="/add/_service_event", message_encoding="cdr", schema_id=bad)
        ch_ok = w.register_channel(topic="/chatter", message_encoding="cdr", schema_id=ok)
        for i in range(3):
            w.add_message(ch_bad, log_time=1000 + i, publish_time=1000 + i, data=b"\x00\x01\x00\x00")
            w.add_message(ch_ok, log_time=2000 + i, publish_time=2000 + i, data=b"\x00\x01\x00\x00\x01\x00\x00\x00\x00")
        w.finish()
    s = index(path, hashes=False)
    event = s.topic("/add/_service_event")
    chatter = s.topic("/chatter")
    assert event is not None and event.count == 3 and event.decodable is False
    assert chatter is not None and chatter.count == 3 and chatter.decodable is True


def test_index_never_reads_ros1_chunk_payloads(tmp_path: Path) -> None:
    # Overwrite every chunk's data with garbage but keep chunk headers and the index section:
    # the index must come out identical, proving payloads are neither read nor decompressed.
    from rosbags.rosbag1 import Reader

    src = BAGS / "ros1/turtlesim_example-lz4.bag"
    bag = tmp_path / "garbled.bag"
    raw = bytearray(src.read_bytes())
    with Reader(src) as r:
        chunks = [(c.datapos, c.datasize) for c in r.chunks.values()]
    for pos, size in chunks:
        raw[pos : pos + size] = b"\xff" * size
    bag.write_bytes(bytes(raw))
    assert not _fully_readable(bag)
    garbled = index(bag, hashes=False)
    original = index(src, hashes=False)
    assert garbled.model_dump(exclude={"path", "files"}) == original.model_dump(exclude={"path", "files"})


def test_index_never_reads_mcap_chunk_payloads(tmp_path: Path) -> None:
    from mcap.reader import make_reader

    src = BAGS / "mcap/bare_multiple_files_0.mcap"
    bag = tmp_path / "garbled.mcap"
    raw = bytearray(src.read_bytes())
    with src.open("rb") as f:
        summary = make_reader(f).get_summary()
    assert summary is not None
    for chunk in summary.chunk_indexes:
        # Chunk record: opcode(1) length(8) start(8) end(8) size(8) crc(4) compression(4+n) records(8+m)
        body = chunk.chunk_start_offset + 1 + 8 + 8 + 8 + 8 + 4 + 4 + len(chunk.compression) + 8
        end = chunk.chunk_start_offset + chunk.chunk_length
        raw[body:end] = b"\x00" * (end - body)
    bag.write_bytes(bytes(raw))
    assert not _fully_readable(bag)
    assert index(bag, hashes=False).model_dump(exclude={"path", "files"}) == index(src, hashes=False).model_dump(
        exclude={"path", "files"}
    )


def _fully_readable(path: Path) -> bool:
    try:
        full_read(path)
    except Exception:  # any decoder error means the payloads really are destroyed
        return False
    return True


def test_summary_round_trips_through_json() -> None:
    s = index(BAGS / "sensors/husky_gps_imu.bag")
    again = BagSummary.model_validate_json(s.model_dump_json())
    assert again == s


@pytest.mark.parametrize(
    "options",
    [
        {},  # summary offsets + statistics: the fast path
        {"use_summary_offsets": False},  # summary read by the mcap reader
        {"use_summary_offsets": False, "use_statistics": False},  # counts from message indexes
        {"use_chunking": False},  # no chunks at all
    ],
)
def test_mcap_summary_variants(tmp_path: Path, options: dict[str, bool]) -> None:
    from mcap.writer import Writer

    from toolkit.bags.read import BagReader

    src = BAGS / "ros1/turtlesim_example.bag"
    path = tmp_path / "variant.mcap"
    with BagReader(src) as reader, path.open("wb") as f:
        w = Writer(f, chunk_size=8192, **options)
        w.start(profile="ros1", library="test")
        channels: dict[str, int] = {}
        for m in reader.messages():
            if m.topic not in channels:
                sid = w.register_schema(name=m.msgtype, encoding="ros1msg", data=m.connection.msgdef.encode())
                channels[m.topic] = w.register_channel(topic=m.topic, message_encoding="ros1", schema_id=sid)
            w.add_message(channels[m.topic], log_time=m.timestamp_ns, publish_time=m.timestamp_ns, data=m.data)
        w.finish()
    s = index(path, hashes=False)
    truth = full_read(src)
    assert {t.name: t.count for t in s.topics} == counts_by_topic(truth)
    assert (s.start_ns, s.end_ns) == (truth[0].timestamp_ns, truth[-1].timestamp_ns)
    assert s.compression == ("none" if options.get("use_chunking") is False else "zstd")
    assert s.indexed_by == "index" and s.warnings == []


def test_non_ros_mcap_lists_and_slices_raw(tmp_path: Path) -> None:
    import json

    from mcap.writer import Writer

    from toolkit.bags import read_messages, slice_bag
    from toolkit.errors import BagError

    path = tmp_path / "json.mcap"
    with path.open("wb") as f:
        w = Writer(f)
        w.start(profile="", library="test")
        sid = w.register_schema(name="Pose", encoding="jsonschema", data=b'{"type": "object"}')
        ch = w.register_channel(topic="/pose", message_encoding="json", schema_id=sid)
        for i in range(10):
            w.add_message(ch, log_time=1000 + i, publish_time=1000 + i, data=json.dumps({"x": i}).encode())
        w.finish()
    pose = index(path, hashes=False).topic("/pose")
    assert pose is not None
    assert (pose.type, pose.count, pose.serialization, pose.decodable) == ("Pose", 10, "json", False)
    r = slice_bag(path, tmp_path / "part.mcap", start=1002, end=1005)
    assert [m.data for m in read_messages(tmp_path / "part.mcap")] == [b'{"x": %d}' % i for i in range(2, 6)]
    assert r.message_count == 4
    with pytest.raises(BagError, match="json messages cannot be converted to ros1"):
        slice_bag(path, tmp_path / "part.bag")


def _ros1_totals(path: Path) -> tuple[object, object]:
    import os

    from toolkit.bags.ros1_index import _chunk_totals, _read_connections, _totals_one_by_one, read_bag_header

    with path.open("rb") as f:
        fd = f.fileno()
        size = os.fstat(fd).st_size
        header = read_bag_header(fd, path)
        buf = os.pread(fd, size - header.index_pos, header.index_pos)
        conns, _records, pos = _read_connections(buf, header)
        return _chunk_totals(buf, pos, header, conns), _totals_one_by_one(buf, pos, header, conns)


@pytest.mark.parametrize("rel", sorted(p.relative_to(BAGS).as_posix() for p in (BAGS / "ros1").glob("*.bag")))
def test_ros1_bulk_chunk_totals_equal_record_by_record(rel: str) -> None:
    bulk, one_by_one = _ros1_totals(BAGS / rel)
    assert bulk is not None and bulk == one_by_one


def test_ros1_bulk_chunk_totals_with_chunks_of_different_sizes(tmp_path: Path) -> None:
    # Chunks holding different connection sets give chunk-info records of different lengths:
    # the bulk path walks them instead of assuming one stride.
    from rosbags.rosbag1 import Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS1_NOETIC)
    String = store.types["std_msgs/msg/String"]
    bag = tmp_path / "uneven.bag"
    expected: dict[str, int] = {}
    with Writer(bag) as w:
        w.chunk_threshold = 200
        conns = [w.add_connection(f"/t{i}", "std_msgs/msg/String", typestore=store) for i in range(3)]
        for k in range(400):  # enough chunks for more than 32 runs of equal-sized records
            conn = conns[0] if k % 7 else conns[k % 3]
            data = store.serialize_ros1(String(data="x" * (k % 50)), "std_msgs/msg/String")
            w.write(conn, 1_000_000_000 + k * 1_000_000, bytes(data))
            expected[conn.topic] = expected.get(conn.topic, 0) + 1
    bulk, one_by_one = _ros1_totals(bag)
    assert bulk is not None and bulk == one_by_one
    assert {t.name: t.count for t in index(bag, hashes=False).topics} == expected


@pytest.mark.parametrize(("topics", "drop_timestamp_index"), [(3, False), (12, False), (3, True)])
def test_sqlite_counts_and_times_on_every_query_path(tmp_path: Path, topics: int, drop_timestamp_index: bool) -> None:
    # <= 8 topics: one scan with CASE columns and times from timestamp_idx; more topics, or a file
    # without that index, one GROUP BY scan. All must equal a full read.
    import sqlite3

    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_HUMBLE)
    String = store.types["std_msgs/msg/String"]
    bag = tmp_path / "many"
    with Writer(bag, version=Writer.VERSION_LATEST) as w:
        conns = [w.add_connection(f"/t{i}", "std_msgs/msg/String", typestore=store) for i in range(topics)]
        for k in range(100):
            data = store.serialize_cdr(String(data="x" * k), "std_msgs/msg/String")
            w.write(conns[(k * k) % (topics - 1)], 1_000_000_000 + 7 * k, bytes(data))  # the last topic stays empty
    if drop_timestamp_index:
        db3 = next(bag.glob("*.db3"))
        with sqlite3.connect(db3) as db:
            db.execute("DROP INDEX IF EXISTS timestamp_idx")
        db.close()
    truth = full_read(bag)
    s = index(bag, hashes=False)
    assert s.message_count == len(truth) == 100
    assert (s.start_ns, s.end_ns) == (truth[0].timestamp_ns, truth[-1].timestamp_ns)
    assert {t.name: t.count for t in s.topics if t.count} == counts_by_topic(truth)
    assert s.topic(f"/t{topics - 1}") is not None and s.topic(f"/t{topics - 1}").count == 0  # type: ignore[union-attr]
