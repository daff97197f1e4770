"""Message rate per topic over time, from the storage's index (never the payloads).

ROS 1: the IndexData records (one timestamp per message, read by rosbags at
open); MCAP: the MessageIndex records of each chunk (timestamp + offset per
message); rosbag2 sqlite3: one GROUP BY over timestamp buckets per file. A
bag whose index cannot be read falls back to a raw forward read (no
deserialization) and says so in ``source``.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

from pydantic import BaseModel

from toolkit.bags.summary import BagFormat, BagSummary
from toolkit.errors import BagError

DEFAULT_BUCKETS = 60
_MESSAGE_INDEX_OPCODE = 0x07


class TopicRate(BaseModel):
    topic: str
    counts: list[int]  # messages per bucket
    max_rate_hz: float


class Timeline(BaseModel):
    start_ns: int
    end_ns: int
    bucket_ns: int
    buckets: int
    topics: list[TopicRate]
    source: str  # "index" or "scan"


def _bucket_of(t: int, start: int, bucket_ns: int, buckets: int) -> int:
    return min(max((t - start) // bucket_ns, 0), buckets - 1)


def _ros1_times(path: Path) -> Iterator[tuple[str, Iterable[int]]]:
    from rosbags.rosbag1 import Reader

    reader = Reader(path)
    reader.open()
    try:
        for conn in reader.connections:
            yield conn.topic, [entry.time for entry in reader.indexes.get(conn.id, [])]
    finally:
        reader.close()


def _mcap_times(files: list[Path]) -> Iterator[tuple[str, Iterable[int]]]:
    from mcap.reader import make_reader

    for file in files:
        with file.open("rb") as f:
            summary = make_reader(f).get_summary()
            if summary is None or not summary.chunk_indexes:
                raise BagError(f"{file}: no chunk indexes")
            for chunk in summary.chunk_indexes:
                for cid, offset in chunk.message_index_offsets.items():
                    f.seek(offset)
                    head = f.read(15)
                    opcode, _length, _channel, records_len = struct.unpack("<BQHI", head)
                    if opcode != _MESSAGE_INDEX_OPCODE:
                        raise BagError(f"{file}: bad message index at {offset}")
                    raw = f.read(records_len)
                    times = [t for t, _ in struct.iter_unpack("<QQ", raw)]
                    yield summary.channels[cid].topic, times


def _sqlite_counts(files: list[Path], start: int, bucket_ns: int, buckets: int) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for file in files:
        db = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
        try:
            rows = db.execute(
                "SELECT t.name, (m.timestamp - ?) / ?, count(*) FROM messages m JOIN topics t ON t.id = m.topic_id "
                "GROUP BY m.topic_id, 2",
                (start, bucket_ns),
            ).fetchall()
        finally:
            db.close()
        for topic, b, n in rows:
            counts = out.setdefault(topic, [0] * buckets)
            counts[min(max(int(b), 0), buckets - 1)] += n
    return out


def _scan_times(path: Path) -> Iterator[tuple[str, Iterable[int]]]:
    from toolkit.bags import read_messages

    per_topic: dict[str, list[int]] = {}
    for msg in read_messages(path):
        per_topic.setdefault(msg.topic, []).append(msg.timestamp_ns)
    yield from per_topic.items()


def message_timeline(summary: BagSummary, root: Path, buckets: int = DEFAULT_BUCKETS) -> Timeline:
    """Counts per topic in `buckets` equal time slices of the bag's [start, end].

    Relative paths in `summary` (as in sidecars) are relative to `root`, the data repo.
    """
    if summary.start_ns is None or summary.end_ns is None:
        return Timeline(start_ns=0, end_ns=0, bucket_ns=1, buckets=0, topics=[], source="index")
    start, end = summary.start_ns, summary.end_ns
    bucket_ns = max(1, -(-(end - start + 1) // buckets))
    bag = root / summary.path
    files = [root / f for f in summary.files] or [bag]
    source = "index"
    counts: dict[str, list[int]] = {}
    try:
        if summary.format == BagFormat.ROS2_SQLITE3:
            counts = _sqlite_counts(files, start, bucket_ns, buckets)
        else:
            times = _ros1_times(files[0]) if summary.format == BagFormat.ROS1 else _mcap_times(files)
            counts = _bucket(times, start, bucket_ns, buckets)
    except Exception:  # a damaged index: the raw read still gives exact times
        source = "scan"
        counts = _bucket(_scan_times(bag), start, bucket_ns, buckets)
    seconds = bucket_ns / 1e9
    rates = [
        TopicRate(topic=t, counts=c, max_rate_hz=round(max(c) / seconds, 3) if c else 0.0)
        for t, c in sorted(counts.items())
    ]
    return Timeline(start_ns=start, end_ns=end, bucket_ns=bucket_ns, buckets=buckets, topics=rates, source=source)


def _bucket(
    times: Iterable[tuple[str, Iterable[int]]], start: int, bucket_ns: int, buckets: int
) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for topic, ts in times:
        counts = out.setdefault(topic, [0] * buckets)
        for t in ts:
            counts[_bucket_of(t, start, bucket_ns, buckets)] += 1
    return out
