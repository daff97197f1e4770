"""Index MCAP storage from its summary section (statistics, channels, schemas, chunk indexes).

A file without a usable summary (truncated recording) is scanned forward with
the mcap StreamReader, keeping whatever records are readable before the damage.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import yaml
from mcap.exceptions import McapError
from mcap.reader import make_reader
from mcap.records import Channel, Message, Schema
from mcap.stream_reader import StreamReader
from mcap.summary import Summary

from toolkit.bags.connection import BagConnection, ConnectionStats, StorageIndex, ros2_type_name
from toolkit.errors import CorruptBagError

# What a truncated/damaged MCAP makes the mcap library raise; all mean "stop here".
READ_ERRORS = (McapError, struct.error, EOFError, ValueError, KeyError, OSError, RuntimeError, IndexError)


def connection_from_channel(channel: Channel, schema: Schema | None, conn_id: int | None = None) -> BagConnection:
    meta = channel.metadata or {}
    latching = meta.get("latching", "")
    return BagConnection(
        id=channel.id if conn_id is None else conn_id,
        topic=channel.topic,
        msgtype=ros2_type_name(schema.name) if schema else "",
        encoding=channel.message_encoding,
        msgdef=schema.data.decode("utf-8", "replace") if schema else "",
        msgdef_format=schema.encoding if schema else "",
        md5sum=meta.get("md5sum", ""),
        callerid=meta.get("callerid"),
        latching=int(latching) if latching.isdigit() else None,
        qos=meta.get("offered_qos_profiles", ""),
        type_hash=meta.get("topic_type_hash", ""),
    )


def index_mcap(files: Sequence[Path]) -> StorageIndex:
    """Aggregate every .mcap file of a bag (one file, or a rosbag2 directory of splits)."""
    by_key: dict[tuple[str, str, str], ConnectionStats] = {}
    compression: set[str] = set()
    custom: dict[str, str] = {}
    warnings: list[str] = []
    indexed_by = "index"
    for path in files:
        part = _index_one(path)
        compression |= part.compression
        custom.update(part.custom_data)
        if part.indexed_by == "scan":
            indexed_by = "scan"
            warnings.extend(w if len(files) == 1 else f"{path.name}: {w}" for w in part.warnings)
        for stat in part.stats:
            conn = stat.connection
            key = (conn.topic, conn.msgtype, conn.encoding)
            if key not in by_key:
                by_key[key] = ConnectionStats(BagConnection(**{**conn.__dict__, "id": len(by_key) + 1}))
            by_key[key].add(stat.count, stat.start_ns, stat.end_ns)
    return StorageIndex(
        stats=list(by_key.values()),
        compression=compression or {"none"},
        indexed_by=indexed_by,
        warnings=warnings,
        custom_data=custom,
    )


def _index_one(path: Path) -> StorageIndex:
    with path.open("rb") as f:
        try:
            reader = make_reader(f)
            summary = reader.get_summary()
        except READ_ERRORS as exc:
            return _scan(f, path, f"no readable summary ({type(exc).__name__})")
        if summary is None:
            return _scan(f, path, "file has no summary section")
        try:
            return _from_summary(f, summary, reader)
        except READ_ERRORS as exc:
            return _scan(f, path, f"summary damaged ({type(exc).__name__})")


def _from_summary(f: BinaryIO, summary: Summary, reader: Any) -> StorageIndex:
    stats = {
        cid: ConnectionStats(connection_from_channel(ch, summary.schemas.get(ch.schema_id)))
        for cid, ch in summary.channels.items()
    }
    compression = {c.compression or "none" for c in summary.chunk_indexes} or {"none"}
    if summary.statistics is not None:
        st = summary.statistics
        for cid, n in st.channel_message_counts.items():
            if cid in stats and n:
                # The summary has no per-channel times; the bag-wide range bounds each channel.
                stats[cid].add(n, st.message_start_time, st.message_end_time)
    elif summary.chunk_indexes:
        _counts_from_message_indexes(f, summary, stats)
    else:
        raise McapError("summary has neither statistics nor chunk indexes")
    custom: dict[str, str] = {}
    if summary.metadata_indexes:
        custom = _rosbag2_custom_data(reader)
    return StorageIndex(stats=list(stats.values()), compression=compression, custom_data=custom)


def _counts_from_message_indexes(f: BinaryIO, summary: Summary, stats: dict[int, ConnectionStats]) -> None:
    # Each MessageIndex record: opcode u8, length u64, channel_id u16, records_len u32, then 16-byte entries.
    for chunk in summary.chunk_indexes:
        for cid, offset in chunk.message_index_offsets.items():
            f.seek(offset)
            head = f.read(15)
            (records_len,) = struct.unpack_from("<I", head, 11)
            if cid in stats:
                stats[cid].add(records_len // 16, chunk.message_start_time, chunk.message_end_time)


def _rosbag2_custom_data(reader: Any) -> dict[str, str]:
    custom: dict[str, str] = {}
    for record in reader.iter_metadata():
        if record.name != "rosbag2":
            continue
        try:
            doc = yaml.safe_load(record.metadata.get("serialized_metadata", "")) or {}
        except yaml.YAMLError:
            continue
        data = doc.get("custom_data") if isinstance(doc, dict) else None
        if isinstance(data, dict):
            custom.update({str(k): str(v) for k, v in data.items()})
    return custom


def _scan(f: BinaryIO, path: Path, reason: str) -> StorageIndex:
    f.seek(0)
    schemas: dict[int, Schema] = {}
    channels: dict[int, Channel] = {}
    stats: dict[int, ConnectionStats] = {}
    counts: dict[int, list[int]] = {}  # channel -> [count, min, max] until its Channel record is known
    try:
        for record in StreamReader(f, skip_magic=False).records:
            if isinstance(record, Schema):
                schemas[record.id] = record
            elif isinstance(record, Channel):
                channels[record.id] = record
            elif isinstance(record, Message):
                entry = counts.setdefault(record.channel_id, [0, record.log_time, record.log_time])
                entry[0] += 1
                entry[1] = min(entry[1], record.log_time)
                entry[2] = max(entry[2], record.log_time)
    except READ_ERRORS:
        pass  # the damage: keep what came before it
    except Exception as exc:  # zstd/lz4 errors on a cut chunk have no common base class
        if not type(exc).__module__.startswith(("zstandard", "lz4", "backports", "compression", "_lz4")):
            raise
    for cid, (n, start, end) in counts.items():
        if cid not in channels:
            continue
        ch = channels[cid]
        stats[cid] = ConnectionStats(connection_from_channel(ch, schemas.get(ch.schema_id)))
        stats[cid].add(n, start, end)
    recovered = sum(s.count for s in stats.values())
    if recovered == 0:
        raise CorruptBagError(f"{path}: damaged MCAP file, no messages recoverable ({reason})")
    for cid, ch in channels.items():
        if cid not in stats:
            stats[cid] = ConnectionStats(connection_from_channel(ch, schemas.get(ch.schema_id)))
    return StorageIndex(
        stats=list(stats.values()),
        compression=set(),
        indexed_by="scan",
        warnings=[f"indexed by scan: {recovered} messages recovered", reason],
    )
