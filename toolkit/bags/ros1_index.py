"""Index a ROS 1 (v2.0) bag from its index section alone, or by a forward scan when that is damaged.

The bag header points at the index section at the file end: connection
records then chunk-info records, which carry per-connection message counts
and per-chunk time ranges. Chunk headers (a few dozen bytes each) give the
compression. Message payloads are never read on the indexed path.

Format reference: http://wiki.ros.org/Bags/Format/2.0
"""

from __future__ import annotations

import bz2
import os
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import lz4.frame

from toolkit.bags.connection import BagConnection, ConnectionStats, StorageIndex, ros2_type_name
from toolkit.bags.formats import ROS1_MAGIC
from toolkit.errors import CorruptBagError

OP_MSGDATA = 0x02
OP_BAGHEADER = 0x03
OP_IDXDATA = 0x04
OP_CHUNK = 0x05
OP_CHUNK_INFO = 0x06
OP_CONNECTION = 0x07

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_TIME = struct.Struct("<II")
# A chunk header is ~50 bytes (compression, op, size); read a little more to be safe.
_CHUNK_HEADER_PROBE = 256


class _Damaged(Exception):
    """The index section cannot be trusted; fall back to a scan."""


@dataclass(frozen=True)
class BagHeader:
    index_pos: int
    conn_count: int
    chunk_count: int
    data_start: int  # offset of the first record after the bag header


def parse_fields(buf: bytes | memoryview) -> dict[str, bytes]:
    """Parse a ROS 1 record header: a sequence of ``<u32 len><name>=<value>`` fields."""
    fields: dict[str, bytes] = {}
    pos, end = 0, len(buf)
    while pos < end:
        if pos + 4 > end:
            raise _Damaged("header field length cut short")
        (size,) = _U32.unpack_from(buf, pos)
        pos += 4
        if pos + size > end:
            raise _Damaged("header field longer than its header")
        raw = bytes(buf[pos : pos + size])
        name, sep, value = raw.partition(b"=")
        if not sep:
            raise _Damaged("header field without '='")
        fields[name.decode("ascii", "replace")] = value
        pos += size
    return fields


class _FieldLayout:
    """Field positions of a header whose layout repeats: every chunk-info (or chunk) record one
    writer produces has the same field names, order and sizes, so later records are read by
    checking the name bytes in place instead of re-parsing (the index of a 1 GB bag has ~1000)."""

    def __init__(self, header: bytes) -> None:
        self.length = len(header)
        self.checks: list[tuple[int, int, bytes]] = []
        self.values: list[tuple[str, int, int]] = []
        pos = 0
        while pos < self.length:
            (size,) = _U32.unpack_from(header, pos)
            eq = header.index(b"=", pos + 4, pos + 4 + size)
            self.checks.append((pos, eq + 1, header[pos : eq + 1]))
            self.values.append((header[pos + 4 : eq].decode("ascii", "replace"), eq + 1, pos + 4 + size))
            pos += 4 + size
        # One C-level match checks every length prefix and name at once; values are wildcards.
        self.pattern = re.compile(
            b"".join(
                re.escape(expected) + b".{%d}" % (end - e)
                for (_s, e, expected), (_n, _v, end) in zip(self.checks, self.values, strict=True)
            ),
            re.DOTALL,
        )

    def matches_at(self, buf: bytes, start: int, length: int) -> bool:
        """True when the header of *length* bytes at buf[start:] has this layout (no copies)."""
        return length == self.length and self.pattern.match(buf, start, start + length) is not None

    def offset(self, name: str) -> int:
        """Offset of *name*'s value inside the header."""
        return next(start for field, start, _end in self.values if field == name)

    def read(self, header: bytes) -> dict[str, bytes] | None:
        if len(header) != self.length:
            return None
        for start, end, expected in self.checks:
            if header[start:end] != expected:
                return None
        return {name: header[start:end] for name, start, end in self.values}


def parse_fields_cached(header: bytes, layouts: dict[int, _FieldLayout]) -> dict[str, bytes]:
    """parse_fields, taking the fast path when *header* repeats a layout seen before."""
    layout = layouts.get(len(header))
    if layout is not None:
        fields = layout.read(header)
        if fields is not None:
            return fields
    fields = parse_fields(header)
    layouts[len(header)] = _FieldLayout(header)
    return fields


def _op(fields: dict[str, bytes]) -> int:
    op = fields.get("op")
    if op is None or len(op) != 1:
        raise _Damaged("record without op")
    return op[0]


def _u32(fields: dict[str, bytes], name: str) -> int:
    try:
        return int(_U32.unpack(fields[name])[0])
    except (KeyError, struct.error) as exc:
        raise _Damaged(f"bad field {name}") from exc


def _u64(fields: dict[str, bytes], name: str) -> int:
    try:
        return int(_U64.unpack(fields[name])[0])
    except (KeyError, struct.error) as exc:
        raise _Damaged(f"bad field {name}") from exc


def _time(fields: dict[str, bytes], name: str) -> int:
    try:
        sec, nsec = _TIME.unpack(fields[name])
    except (KeyError, struct.error) as exc:
        raise _Damaged(f"bad field {name}") from exc
    return int(sec) * 1_000_000_000 + int(nsec)


def _str(fields: dict[str, bytes], name: str, default: str = "") -> str:
    value = fields.get(name)
    return default if value is None else value.decode("utf-8", "replace")


def read_bag_header(fd: int, path: Path) -> BagHeader:
    head = os.pread(fd, 4096 + 64, 0)
    if not head.startswith(ROS1_MAGIC):
        raise CorruptBagError(f"{path}: not a ROS 1 v2.0 bag")
    pos = len(ROS1_MAGIC)
    try:
        (hlen,) = _U32.unpack_from(head, pos)
        fields = parse_fields(head[pos + 4 : pos + 4 + hlen])
        if pos + 4 + hlen + 4 > len(head) or _op(fields) != OP_BAGHEADER:
            raise _Damaged("no bag header record")
        (dlen,) = _U32.unpack_from(head, pos + 4 + hlen)
        return BagHeader(
            index_pos=_u64(fields, "index_pos"),
            conn_count=_u32(fields, "conn_count"),
            chunk_count=_u32(fields, "chunk_count"),
            data_start=pos + 4 + hlen + 4 + dlen,
        )
    except (_Damaged, struct.error) as exc:
        raise CorruptBagError(f"{path}: ROS 1 bag header is damaged") from exc


def connection_from_fields(conn_id: int, header: dict[str, bytes], data: dict[str, bytes]) -> BagConnection:
    latching = _str(data, "latching")
    return BagConnection(
        id=conn_id,
        topic=_str(header, "topic"),
        msgtype=ros2_type_name(_str(data, "type")),
        encoding="ros1",
        msgdef=_str(data, "message_definition"),
        msgdef_format="ros1msg",
        md5sum=_str(data, "md5sum"),
        callerid=_str(data, "callerid") if "callerid" in data else None,
        latching=int(latching) if latching.strip().isdigit() else None,
    )


def index_ros1(path: Path) -> StorageIndex:
    """Index one ROS 1 bag; scans forward (and says so) when its index is missing or damaged."""
    with path.open("rb", buffering=0) as f:
        fd = f.fileno()
        size = os.fstat(fd).st_size
        header = read_bag_header(fd, path)
        reason = _index_problem(header, size)
        if reason is None:
            try:
                return _from_index(fd, header, size)
            except (_Damaged, struct.error) as exc:
                reason = f"index section damaged ({exc})"
    return scan_ros1(path, reason)


def _index_problem(header: BagHeader, size: int) -> str | None:
    if header.index_pos == 0:
        return "bag has no index (recording was not closed)"
    if header.index_pos == size and header.conn_count == 0 and header.chunk_count == 0:
        return None  # a closed bag without messages: its empty index ends the file
    if header.index_pos >= size or header.index_pos < header.data_start:
        return "index position lies outside the file (truncated?)"
    return None


class ChunkInfo(NamedTuple):  # a tuple: ~1000 are built per GB of bag, frozen dataclasses cost more
    pos: int
    start_ns: int  # first and last message time in the chunk (inclusive)
    end_ns: int
    counts: dict[int, int]  # connection id -> messages in the chunk


@dataclass(frozen=True)
class Ros1Index:
    """The parsed index section: connections (with their raw records) and chunk infos."""

    connections: dict[int, BagConnection]
    connection_records: dict[int, bytes]  # verbatim connection records, reusable by a writer
    chunks: list[ChunkInfo]


def read_index_section(fd: int, header: BagHeader, size: int) -> Ros1Index:
    """Parse the connection and chunk-info records at ``index_pos`` (raises _Damaged)."""
    buf = os.pread(fd, size - header.index_pos, header.index_pos)
    connections, records, pos = _read_connections(buf, header)
    return Ros1Index(connections, records, _read_chunk_infos(buf, pos, header, connections))


def _record_bounds(buf: bytes, pos: int) -> tuple[int, int, int]:
    """(header length, data start, data length) of the record at *pos* (raises _Damaged)."""
    (hlen,) = _U32.unpack_from(buf, pos)
    (dlen,) = _U32.unpack_from(buf, pos + 4 + hlen)
    data_start = pos + 8 + hlen
    if data_start + dlen > len(buf):
        raise _Damaged("record cut short")
    return hlen, data_start, dlen


def _read_connections(buf: bytes, header: BagHeader) -> tuple[dict[int, BagConnection], dict[int, bytes], int]:
    """The connection records that open the index section, and the offset after them."""
    pos = 0
    connections: dict[int, BagConnection] = {}
    records: dict[int, bytes] = {}
    for _ in range(header.conn_count):
        hlen, data_start, dlen = _record_bounds(buf, pos)
        fields = parse_fields(buf[pos + 4 : pos + 4 + hlen])
        if _op(fields) != OP_CONNECTION:
            raise _Damaged("expected a connection record")
        conn_id = _u32(fields, "conn")
        data = parse_fields(buf[data_start : data_start + dlen])
        connections[conn_id] = connection_from_fields(conn_id, fields, data)
        records[conn_id] = buf[pos : data_start + dlen]
        pos = data_start + dlen
    return connections, records, pos


_CHUNK_INFO_FIELDS = (("chunk_pos", 8), ("start_time", 8), ("end_time", 8), ("count", 4))


def _check_chunk_info_header(fields: dict[str, bytes]) -> None:
    if _op(fields) != OP_CHUNK_INFO or _u32(fields, "ver") != 1:
        raise _Damaged("expected a version 1 chunk-info record")
    for name, width in _CHUNK_INFO_FIELDS:
        if len(fields.get(name, b"")) != width:
            raise _Damaged(f"bad field {name}")


def _read_chunk_infos(
    buf: bytes, pos: int, header: BagHeader, connections: dict[int, BagConnection]
) -> list[ChunkInfo]:
    layout: _FieldLayout | None = None
    offsets = (0, 0, 0, 0)
    u64, time_, pair = struct.Struct("<Q"), struct.Struct("<II"), struct.Struct("<II")
    chunks: list[ChunkInfo] = []
    for _ in range(header.chunk_count):
        start = pos
        hlen, data_start, dlen = _record_bounds(buf, pos)
        pos = data_start + dlen
        h0 = start + 4
        if layout is None or not layout.matches_at(buf, h0, hlen):
            # First record (or a different layout): parse it fully and remember where the values sit.
            _check_chunk_info_header(parse_fields(buf[h0 : h0 + hlen]))
            layout = _FieldLayout(buf[h0 : h0 + hlen])
            offsets = tuple(h0 - start + layout.offset(n) for n, _w in _CHUNK_INFO_FIELDS)  # type: ignore[assignment]
        chunk_pos = u64.unpack_from(buf, start + offsets[0])[0]
        if not header.data_start <= chunk_pos < header.index_pos:
            raise _Damaged("chunk position outside the data section")
        s_sec, s_nsec = time_.unpack_from(buf, start + offsets[1])
        e_sec, e_nsec = time_.unpack_from(buf, start + offsets[2])
        (count,) = _U32.unpack_from(buf, start + offsets[3])
        if count * 8 > dlen:
            raise _Damaged("chunk-info counts cut short")
        counts = dict(pair.iter_unpack(buf[data_start : data_start + count * 8]))
        if not counts.keys() <= connections.keys():
            raise _Damaged("chunk counts an unknown connection")
        chunks.append(ChunkInfo(chunk_pos, s_sec * 1_000_000_000 + s_nsec, e_sec * 1_000_000_000 + e_nsec, counts))
    return chunks


# --- the summary: chunk-info records aggregated in bulk ------------------------------


class _Totals(NamedTuple):
    counts: dict[int, int]  # connection id -> messages
    first: dict[int, int]  # connection id -> start of the first chunk holding it
    last: dict[int, int]
    chunk_positions: list[int]


def _chunk_info_layout(buf: bytes, pos: int) -> tuple[int, dict[str, int], list[int]]:
    """(header length, value offset per chunk-info field, offsets of the bytes that must repeat).

    Offsets count from the record start (the header's length prefix). Every record a writer
    produces has the same field names, order and widths, and the same op and version, so all
    bytes but the values of chunk_pos, start_time, end_time and count (and unknown fields) repeat.
    """
    (hlen,) = _U32.unpack_from(buf, pos)
    head = buf[pos + 4 : pos + 4 + hlen]
    if len(head) != hlen:
        raise _Damaged("record cut short")
    _check_chunk_info_header(parse_fields(head))
    wanted = {name for name, _w in _CHUNK_INFO_FIELDS}
    offsets: dict[str, int] = {}
    fixed = list(range(4))  # the header length
    p = 0
    while p < hlen:
        (flen,) = _U32.unpack_from(head, p)
        eq = head.index(b"=", p + 4, p + 4 + flen)
        name = head[p + 4 : eq].decode("ascii", "replace")
        fixed.extend(range(4 + p, 4 + eq + 1))  # field length and name
        if name in wanted:
            offsets[name] = 4 + eq + 1
        elif name in ("op", "ver"):
            fixed.extend(range(4 + eq + 1, 4 + p + 4 + flen))
        p += 4 + flen
    return hlen, offsets, fixed


def _record_starts(buf: bytes, pos: int, hlen: int, n: int) -> Any:
    """Start offsets of *n* records from *pos* that must fill the buffer exactly, or None.

    Records of one length come in runs (chunks holding the same connections): from a record,
    one gather checks the data lengths at every further multiple of its size, and the run
    extends to the first record whose length differs. Equal lengths prove the records lie end
    to end. Many short runs finish with a plain walk, one record at a time.
    """
    import numpy as np

    arr = np.frombuffer(buf, np.uint8)
    pieces: list[Any] = []
    found, p, end, at_dlen = 0, pos, len(buf), 4 + hlen
    try:
        while p < end and found < n and len(pieces) < 32:
            (dlen,) = _U32.unpack_from(buf, p + at_dlen)
            stride = 8 + hlen + dlen
            most = min(n - found, (end - p) // stride)
            if most <= 0:
                return None
            starts = p + stride * np.arange(most, dtype=np.int64)
            same = _gather_u32(arr, starts + at_dlen) == dlen
            run = most if same.all() else int(np.argmin(same))
            pieces.append(starts[:run])
            found, p = found + run, p + run * stride
        walked: list[int] = []
        append, unpack, step = walked.append, _U32.unpack_from, 8 + hlen
        while p < end:
            append(p)
            p += step + unpack(buf, p + at_dlen)[0]
    except struct.error:
        return None
    pieces.append(np.array(walked, dtype=np.int64))
    starts = np.concatenate(pieces)
    return starts if p == end and len(starts) == n else None


def _gather_u32(arr: Any, offsets: Any) -> Any:
    import numpy as np

    return arr[offsets[:, None] + np.arange(4)].view("<u4").ravel()


def _gather_time(arr: Any, offsets: Any) -> Any:
    import numpy as np

    secs = _gather_u32(arr, offsets).astype(np.int64)
    return secs * 1_000_000_000 + _gather_u32(arr, offsets + 4).astype(np.int64)


def _chunk_totals(buf: bytes, pos: int, header: BagHeader, connections: dict[int, BagConnection]) -> _Totals | None:
    """Per-connection counts and time bounds from every chunk-info record, in bulk (numpy).

    Needs every record to share the first one's header layout (as one writer produces them);
    None otherwise, and the caller parses the records one by one.
    """
    import numpy as np

    n = header.chunk_count
    if n == 0:
        return _Totals({}, {}, {}, [])
    hlen, offsets, fixed = _chunk_info_layout(buf, pos)
    starts = _record_starts(buf, pos, hlen, n)
    if starts is None:
        return None
    arr = np.frombuffer(buf, np.uint8)
    cols = np.array(fixed, dtype=np.int64)
    if not (arr[starts[:, None] + cols] == arr[pos + cols]).all():
        return None  # another header layout somewhere
    counts = _gather_u32(arr, starts + offsets["count"]).astype(np.int64)
    dlens = _gather_u32(arr, starts + 4 + hlen).astype(np.int64)
    if not (counts * 8 <= dlens).all():
        raise _Damaged("chunk-info counts cut short")
    lo, hi = _gather_u32(arr, starts + offsets["chunk_pos"]), _gather_u32(arr, starts + offsets["chunk_pos"] + 4)
    chunk_pos = lo.astype(np.int64) + (hi.astype(np.int64) << 32)
    if not ((hi < 1 << 31).all() and (chunk_pos >= header.data_start).all() and (chunk_pos < header.index_pos).all()):
        raise _Damaged("chunk position outside the data section")
    start_ns = _gather_time(arr, starts + offsets["start_time"])
    end_ns = _gather_time(arr, starts + offsets["end_time"])
    # Every (connection, count) pair of every record: record r's pairs start at its data.
    record_of_pair = np.repeat(np.arange(n), counts)
    first_pair = np.cumsum(counts) - counts
    pair_at = (starts + 8 + hlen)[record_of_pair] + 8 * (np.arange(len(record_of_pair)) - first_pair[record_of_pair])
    conn = _gather_u32(arr, pair_at)
    ids, inverse = np.unique(conn, return_inverse=True)
    id_list = [int(i) for i in ids]
    if not set(id_list) <= connections.keys():
        raise _Damaged("chunk counts an unknown connection")
    totals = np.zeros(len(ids), np.int64)
    np.add.at(totals, inverse, _gather_u32(arr, pair_at + 4).astype(np.int64))
    first = np.full(len(ids), np.iinfo(np.int64).max, np.int64)
    last = np.full(len(ids), np.iinfo(np.int64).min, np.int64)
    np.minimum.at(first, inverse, start_ns[record_of_pair])
    np.maximum.at(last, inverse, end_ns[record_of_pair])
    return _Totals(
        dict(zip(id_list, totals.tolist(), strict=True)),
        dict(zip(id_list, first.tolist(), strict=True)),
        dict(zip(id_list, last.tolist(), strict=True)),
        chunk_pos.tolist(),
    )


def _totals_one_by_one(buf: bytes, pos: int, header: BagHeader, connections: dict[int, BagConnection]) -> _Totals:
    totals: dict[int, int] = {}
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    chunks = _read_chunk_infos(buf, pos, header, connections)
    for chunk in chunks:
        for conn_id, n in chunk.counts.items():
            totals[conn_id] = totals.get(conn_id, 0) + n
            first[conn_id] = min(first.get(conn_id, chunk.start_ns), chunk.start_ns)
            last[conn_id] = max(last.get(conn_id, chunk.end_ns), chunk.end_ns)
    return _Totals(totals, first, last, [c.pos for c in chunks])


# Chunk headers read for the compression name: the first, the last and some in between.
COMPRESSION_SAMPLES = 16


def _from_index(fd: int, header: BagHeader, size: int) -> StorageIndex:
    buf = os.pread(fd, size - header.index_pos, header.index_pos)
    connections, _records, pos = _read_connections(buf, header)
    found = _chunk_totals(buf, pos, header, connections)
    if found is None:
        found = _totals_one_by_one(buf, pos, header, connections)
    stats = []
    for conn_id, conn in connections.items():
        # Chunk times bound every connection in the chunk; exact per-connection times would need
        # the per-message index records, which the summary does not use.
        stat = ConnectionStats(conn)
        stat.add(found.counts.get(conn_id, 0), found.first.get(conn_id), found.last.get(conn_id))
        stats.append(stat)
    return StorageIndex(stats=stats, compression=_chunk_compressions(fd, _sample(found.chunk_positions)))


def _sample(positions: list[int], k: int = COMPRESSION_SAMPLES) -> list[int]:
    """Up to *k* chunk positions spread evenly over the file, first and last included.

    Reading every chunk header costs one seek per chunk (~1000 per GB); writers compress a whole
    bag one way, so a spread sample finds a mixed bag's second method except in rare layouts.
    """
    n = len(positions)
    if n <= k:
        return positions
    return [positions[round(i * (n - 1) / (k - 1))] for i in range(k)]


def _chunk_compressions(fd: int, chunk_positions: list[int]) -> set[str]:
    found: set[str] = set()
    layout: _FieldLayout | None = None
    name, name_at = b"", 0
    for chunk_pos in chunk_positions:
        probe = os.pread(fd, _CHUNK_HEADER_PROBE, chunk_pos)
        (hlen,) = _U32.unpack_from(probe, 0)
        if layout is not None and layout.matches_at(probe, 4, hlen) and probe.startswith(name, 4 + name_at):
            continue  # same header layout and compression name as the previous chunk
        if hlen + 4 > len(probe):
            probe = os.pread(fd, hlen + 4, chunk_pos)
        header = probe[4 : 4 + hlen]
        fields = parse_fields(header)
        if _op(fields) != OP_CHUNK:
            raise _Damaged("chunk-info points at something that is not a chunk")
        found.add(_str(fields, "compression", "none"))
        layout = _FieldLayout(header)
        name, name_at = fields.get("compression", b""), layout.offset("compression") if "compression" in fields else 0
    return found


# --- forward scan (fallback) -------------------------------------------------


def scan_ros1(path: Path, reason: str) -> StorageIndex:
    """Recover connections and counts by reading records front to back until the data ends."""
    stats: dict[int, ConnectionStats] = {}
    pending: dict[int, list[int]] = {}  # counts for messages seen before their connection record
    compression: set[str] = set()

    def on_message(conn_id: int, t: int) -> None:
        if conn_id in stats:
            stats[conn_id].add(1, t, t)
        else:
            pending.setdefault(conn_id, []).append(t)

    def on_connection(conn: BagConnection) -> None:
        if conn.id not in stats:
            stats[conn.id] = ConnectionStats(conn)
            for t in pending.pop(conn.id, []):
                stats[conn.id].add(1, t, t)

    for op, fields, data in iter_records(path):
        if op == OP_CHUNK:
            compression.add(_str(fields, "compression", "none"))
        elif op == OP_CONNECTION:
            on_connection(connection_from_fields(_u32(fields, "conn"), fields, parse_fields(data)))
        elif op == OP_MSGDATA:
            on_message(_u32(fields, "conn"), _time(fields, "time"))

    recovered = sum(s.count for s in stats.values())
    if recovered == 0:
        raise CorruptBagError(f"{path}: damaged ROS 1 bag, no messages recoverable ({reason})")
    return StorageIndex(
        stats=list(stats.values()),
        compression=compression,
        indexed_by="scan",
        warnings=[f"indexed by scan: {recovered} messages recovered", reason],
    )


def iter_records(path: Path) -> Iterator[tuple[int, dict[str, bytes], bytes]]:
    """Yield ``(op, header, data)`` for every readable record; chunk contents are expanded in place.

    Stops quietly at the first record that is cut short or malformed: that is where the damage is.
    A chunk record is yielded itself (for its compression) and then its inner records.
    """
    with path.open("rb") as f:
        f.seek(len(ROS1_MAGIC))
        while True:
            record = _read_record(f)
            if record is None:
                return
            fields, data, complete = record
            try:
                op = _op(fields)
            except _Damaged:
                return
            yield op, fields, data
            if op == OP_CHUNK:
                try:
                    inner = _decompress(_str(fields, "compression", "none"), data, complete)
                except Exception:
                    return
                yield from _inner_records(inner)
            if not complete:
                return


def _read_record(f: BinaryIO) -> tuple[dict[str, bytes], bytes, bool] | None:
    read = f.read
    raw = read(4)
    if len(raw) < 4:
        return None
    (hlen,) = _U32.unpack(raw)
    hbuf = read(hlen)
    if len(hbuf) < hlen:
        return None
    try:
        fields = parse_fields(hbuf)
    except _Damaged:
        return None
    raw = read(4)
    if len(raw) < 4:
        return fields, b"", False
    (dlen,) = _U32.unpack(raw)
    data = read(dlen)
    return fields, data, len(data) == dlen


def _decompress(compression: str, data: bytes, complete: bool) -> bytes:
    if compression == "none":
        return data
    if compression == "lz4":
        if complete:
            return bytes(lz4.frame.decompress(data))
        # A cut chunk: the streaming decompressor returns what the complete blocks hold.
        return bytes(lz4.frame.LZ4FrameDecompressor().decompress(data))
    if compression == "bz2":
        return bz2.BZ2Decompressor().decompress(data)
    raise _Damaged(f"unknown chunk compression {compression!r}")


def _inner_records(buf: bytes) -> Iterator[tuple[int, dict[str, bytes], bytes]]:
    view = memoryview(buf)
    pos, end = 0, len(buf)
    while pos + 4 <= end:
        (hlen,) = _U32.unpack_from(view, pos)
        if pos + 8 + hlen > end:
            return
        try:
            fields = parse_fields(view[pos + 4 : pos + 4 + hlen])
            op = _op(fields)
        except _Damaged:
            return
        (dlen,) = _U32.unpack_from(view, pos + 4 + hlen)
        if pos + 8 + hlen + dlen > end:
            return
        yield op, fields, bytes(view[pos + 8 + hlen : pos + 8 + hlen + dlen])
        pos += 8 + hlen + dlen
