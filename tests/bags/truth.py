"""Ground truth for bag tests: a full read of every message with the reference libraries.

Deliberately independent of toolkit.bags: ROS 1 through rosbags' rosbag1 Reader,
rosbag2 sqlite3 through rosbags' rosbag2 Reader, MCAP through the mcap library.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from mcap.reader import make_reader
from rosbags.rosbag1 import Reader as Reader1
from rosbags.rosbag2 import Reader as Reader2

REPO_ROOT = Path(__file__).resolve().parents[2]
BAGS = REPO_ROOT / "tests" / "fixtures" / "bags"


@dataclass(frozen=True)
class Msg:
    topic: str
    msgtype: str
    timestamp_ns: int
    data: bytes


def full_read(path: Path) -> list[Msg]:
    """Every message of the bag, sorted by (timestamp, topic, bytes) so orders compare stably."""
    path = Path(path)
    stat = path.stat()
    return list(_full_read(path, stat.st_size, stat.st_mtime_ns))


@lru_cache(maxsize=32)
def _full_read(path: Path, _size: int, _mtime: int) -> tuple[Msg, ...]:
    return tuple(_read_all(path))


def _read_all(path: Path) -> list[Msg]:
    files = _mcap_files(path)
    if files:
        out = []
        for f in files:
            with f.open("rb") as fh:
                for schema, channel, message in make_reader(fh).iter_messages(log_time_order=False):
                    name = schema.name if schema else ""
                    out.append(Msg(channel.topic, name, message.log_time, bytes(message.data)))
        return sorted(out, key=_key)
    if path.is_file() and path.read_bytes()[:13] == b"#ROSBAG V2.0\n":
        with Reader1(path) as r:
            return sorted((Msg(c.topic, c.msgtype, t, bytes(d)) for c, t, d in r.messages()), key=_key)
    with Reader2(path) as r:
        return sorted((Msg(c.topic, c.msgtype, t, bytes(d)) for c, t, d in r.messages()), key=_key)


def _key(m: Msg) -> tuple[int, str, bytes]:
    return (m.timestamp_ns, m.topic, m.data)


def _mcap_files(path: Path) -> list[Path]:
    if path.is_file() and path.read_bytes()[:8] == b"\x89MCAP0\r\n":
        return [path]
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix == ".mcap")
    return []


def counts_by_topic(msgs: list[Msg]) -> dict[str, int]:
    out: dict[str, int] = {}
    for m in msgs:
        out[m.topic] = out.get(m.topic, 0) + 1
    return out


# Every fixture bag with at least one message, as (id, path relative to BAGS).
NONEMPTY = [
    "ros1/fake_sensors_sample.bag",
    "ros1/test_bag_multiple_connections.bag",
    "ros1/turtlesim_example-lz4.bag",
    "ros1/turtlesim_example.bag",
    "sensors/husky_gps_imu.bag",
    "sensors/luminar_pointcloud.bag",
    "sensors/spot_cameras_compressed.bag",
    "sensors/spot_cameras_raw.bag",
    "sensors/velodyne_vlp16_packets",
    "ros2_sqlite3/cdr_test",
    "ros2_sqlite3/cdr_test/cdr_test_0.db3",
    "ros2_sqlite3/wbag_split5",
    "mcap/bare_multiple_files_0.mcap",
    "mcap/only_topics.mcap",
    "mcap/cdr_test",
]
EMPTY = ["ros1/no-messages.bag", "ros2_sqlite3/empty_bag"]


def multi_chunk_ros1(path: Path, compression: str) -> Path:
    """A ROS 1 bag with many small (8 KiB) chunks, rewritten with rosbags' writer from a real bag."""
    from rosbags.rosbag1 import Writer

    from toolkit.bags.read import BagReader  # raw bytes and definitions only; the writer is rosbags'

    writer = Writer(path)
    writer.chunk_threshold = 8192
    if compression != "none":
        writer.set_compression(Writer.CompressionFormat[compression.upper()])
    with BagReader(BAGS / "ros1/turtlesim_example.bag") as reader, writer:
        conns = {
            c.id: writer.add_connection(c.topic, c.msgtype, msgdef=c.msgdef, md5sum=c.md5sum, callerid=c.callerid)
            for c in reader.connections
        }
        for m in reader.messages():
            writer.write(conns[m.connection.id], m.timestamp_ns, m.data)
    return path


def multi_chunk_mcap(path: Path, compression: str = "zstd") -> Path:
    """An MCAP with many small chunks, written with the mcap library from a real ROS 1 bag."""
    from mcap.writer import CompressionType, Writer

    from toolkit.bags.read import BagReader

    with BagReader(BAGS / "ros1/turtlesim_example.bag") as reader, path.open("wb") as f:
        kind = {"zstd": CompressionType.ZSTD, "lz4": CompressionType.LZ4}.get(compression, CompressionType.NONE)
        w = Writer(f, chunk_size=4096, compression=kind)
        w.start(profile="ros1", library="test")
        channels: dict[str, int] = {}
        for m in reader.messages():
            if m.topic not in channels:
                sid = w.register_schema(
                    name=m.msgtype.replace("/msg/", "/"), encoding="ros1msg", data=m.connection.msgdef.encode()
                )
                channels[m.topic] = w.register_channel(
                    topic=m.topic, message_encoding="ros1", schema_id=sid, metadata={"md5sum": m.connection.md5sum}
                )
            w.add_message(channels[m.topic], log_time=m.timestamp_ns, publish_time=m.timestamp_ns, data=m.data)
        w.finish()
    return path
