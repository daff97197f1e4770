"""ROS 1 -> ROS 1 slicing at chunk granularity: whole chunks are copied as raw bytes, untouched.

A chunk that lies entirely inside the time range and holds only selected
connections is copied verbatim with its index-data records (no
decompression, no parsing; see bytecopy for how the bytes move). Only the
chunks at the range's edges, or mixing selected and unselected topics, are
decompressed and rebuilt from their raw message records (still no
re-serialization) and recompressed with the source's compression. The file
header, connection records and chunk infos are rewritten for the new layout.

rosbags' Writer cannot take pre-built chunks, so this module writes the
container itself (format: http://wiki.ros.org/Bags/Format/2.0).
"""

from __future__ import annotations

import bz2
import os
import struct
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import lz4.frame

from toolkit.bags.bytecopy import copy_range
from toolkit.bags.formats import ROS1_MAGIC
from toolkit.bags.ros1_index import (
    OP_CHUNK,
    OP_CHUNK_INFO,
    OP_CONNECTION,
    OP_IDXDATA,
    OP_MSGDATA,
    ChunkInfo,
    Ros1Index,
    _Damaged,
    _decompress,
    _inner_records,
    _op,
    _str,
    _time,
    _u32,
    parse_fields,
    read_bag_header,
    read_index_section,
)

_U32 = struct.Struct("<I")
_BAG_HEADER_SIZE = 4096  # rosbag pads the bag header record so it can be rewritten in place


def _field(name: str, value: bytes) -> bytes:
    raw = name.encode() + b"=" + value
    return _U32.pack(len(raw)) + raw


def _record(fields: Iterable[bytes], data: bytes) -> bytes:
    header = b"".join(fields)
    return _U32.pack(len(header)) + header + _U32.pack(len(data)) + data


def _time_bytes(ns: int) -> bytes:
    return struct.pack("<II", ns // 1_000_000_000, ns % 1_000_000_000)


def _bag_header(index_pos: int, conn_count: int, chunk_count: int) -> bytes:
    fields = [
        _field("op", bytes([0x03])),
        _field("index_pos", struct.pack("<Q", index_pos)),
        _field("conn_count", _U32.pack(conn_count)),
        _field("chunk_count", _U32.pack(chunk_count)),
    ]
    header = b"".join(fields)
    padding = _BAG_HEADER_SIZE - 4 - len(header) - 4
    return _U32.pack(len(header)) + header + _U32.pack(padding) + b" " * padding


def _compress(compression: str, data: bytes) -> bytes:
    if compression == "lz4":
        return bytes(lz4.frame.compress(data))
    if compression == "bz2":
        return bz2.compress(data)
    return data


class _Output:
    def __init__(self, path: Path) -> None:
        self.file = path.open("wb")
        self.fd = self.file.fileno()
        self.chunk_infos: list[ChunkInfo] = []

    def tell(self) -> int:
        return self.file.tell()

    def write(self, data: bytes) -> None:
        self.file.write(data)

    def copy_range(self, src_fd: int, offset: int, length: int) -> None:
        copy_range(src_fd, self.file, offset, length)


def slice_ros1_chunks(
    src: Path, out: Path, conn_ids: set[int], lo: int, hi: int, index: Ros1Index | None = None
) -> tuple[Counter[int], bool] | None:
    """Write messages of *conn_ids* with ``lo <= t <= hi`` from *src* to a new bag *out*.

    *index* is the source's parsed index section when the caller has it already.

    Returns (messages per connection id, whether any chunk was rebuilt), or None when the source's
    index cannot drive a chunk copy (the caller then uses the message-level path).
    """
    with src.open("rb", buffering=0) as f:
        fd = f.fileno()
        size = os.fstat(fd).st_size
        header = read_bag_header(fd, src)
        if header.index_pos == 0 or header.index_pos >= size:
            return None
        if index is None:
            try:
                index = read_index_section(fd, header, size)
            except Exception:
                return None
        ends = _chunk_region_ends(index, header.index_pos)
        counts: Counter[int] = Counter()
        rebuilt = False
        out_file = _Output(out)
        try:
            out_file.write(ROS1_MAGIC + _bag_header(0, 0, 0))
            # Adjacent whole chunks are copied as one run of bytes.
            run: list[tuple[ChunkInfo, int]] = []

            def flush_run() -> None:
                if not run:
                    return
                start, end = run[0][0].pos, run[-1][1]
                base = out_file.tell()
                out_file.copy_range(fd, start, end - start)
                for info, _end in run:
                    out_file.chunk_infos.append(
                        ChunkInfo(base + info.pos - start, info.start_ns, info.end_ns, dict(info.counts))
                    )
                    counts.update(info.counts)
                run.clear()

            for chunk, region_end in zip(index.chunks, ends, strict=True):
                if chunk.end_ns < lo or chunk.start_ns > hi or not (chunk.counts.keys() & conn_ids):
                    continue
                inside = lo <= chunk.start_ns and chunk.end_ns <= hi and chunk.counts.keys() <= conn_ids
                if inside and _only_chunk_and_index(fd, chunk.pos, region_end):
                    if run and run[-1][1] != chunk.pos:
                        flush_run()
                    run.append((chunk, region_end))
                else:
                    flush_run()
                    rebuilt = True
                    counts.update(_rebuild_chunk(fd, chunk, region_end, conn_ids, lo, hi, out_file))
            flush_run()
            used = sorted(cid for cid in conn_ids if counts[cid])
            index_pos = out_file.tell()
            for cid in used:
                out_file.write(index.connection_records[cid])
            for info in out_file.chunk_infos:
                out_file.write(_chunk_info_record(info))
            out_file.file.flush()
            os.pwrite(out_file.fd, _bag_header(index_pos, len(used), len(out_file.chunk_infos)), len(ROS1_MAGIC))
        finally:
            out_file.file.close()
    return counts, rebuilt


def _chunk_region_ends(index: Ros1Index, index_pos: int) -> list[int]:
    """Where each chunk's region (chunk record + its index-data records) ends: the next chunk or the index."""
    starts = sorted({c.pos for c in index.chunks})
    following = {pos: (starts[i + 1] if i + 1 < len(starts) else index_pos) for i, pos in enumerate(starts)}
    return [following[c.pos] for c in index.chunks]


def _read_record_header(fd: int, pos: int) -> tuple[dict[str, bytes], int, int]:
    """(fields, data offset, data length) of the record at *pos*, reading only its header."""
    head = os.pread(fd, 4, pos)
    (hlen,) = _U32.unpack(head)
    fields = parse_fields(os.pread(fd, hlen, pos + 4))
    (dlen,) = _U32.unpack(os.pread(fd, 4, pos + 4 + hlen))
    return fields, pos + 8 + hlen, dlen


def _only_chunk_and_index(fd: int, start: int, end: int) -> bool:
    """True when [start, end) holds one chunk record followed only by index-data records."""
    try:
        return _chunk_then_index(fd, start, end)
    except (_Damaged, struct.error):
        return False  # not what a copy needs; the chunk is rebuilt from its records instead


def _chunk_then_index(fd: int, start: int, end: int) -> bool:
    fields, data_pos, dlen = _read_record_header(fd, start)
    if _op(fields) != OP_CHUNK:
        return False
    tail_start = data_pos + dlen
    if tail_start > end:
        return False
    tail = os.pread(fd, end - tail_start, tail_start)  # the index-data records: small, read at once
    pos = 0
    while pos < len(tail):
        if pos + 4 > len(tail):
            return False
        (hlen,) = _U32.unpack_from(tail, pos)
        if pos + 8 + hlen > len(tail) or _op(parse_fields(tail[pos + 4 : pos + 4 + hlen])) != OP_IDXDATA:
            return False
        (dlen,) = _U32.unpack_from(tail, pos + 4 + hlen)
        pos += 8 + hlen + dlen
    return pos == len(tail)


def _rebuild_chunk(
    fd: int, chunk: ChunkInfo, region_end: int, conn_ids: set[int], lo: int, hi: int, out: _Output
) -> Counter[int]:
    fields, data_pos, dlen = _read_record_header(fd, chunk.pos)
    if _op(fields) != OP_CHUNK:
        raise OSError("chunk info does not point at a chunk")
    compression = _str(fields, "compression", "none")
    inner = _decompress(compression, os.pread(fd, dlen, data_pos), True)
    body = bytearray()
    offsets: dict[int, list[tuple[int, int]]] = {}
    seen_conns: set[int] = set()
    for op, rec_fields, data in _inner_records(inner):
        if op == OP_CONNECTION:
            cid = _u32(rec_fields, "conn")
            if cid in conn_ids and cid not in seen_conns:
                seen_conns.add(cid)
                body += _record(_fields_bytes(rec_fields), data)
        elif op == OP_MSGDATA:
            cid, t = _u32(rec_fields, "conn"), _time(rec_fields, "time")
            if cid in conn_ids and lo <= t <= hi:
                offsets.setdefault(cid, []).append((t, len(body)))
                body += _record(_fields_bytes(rec_fields), data)
    kept = Counter({cid: len(v) for cid, v in offsets.items()})
    if not kept:
        return kept
    new_pos = out.tell()
    chunk_header = [
        _field("compression", compression.encode()),
        _field("op", bytes([OP_CHUNK])),
        _field("size", _U32.pack(len(body))),
    ]
    out.write(_record(chunk_header, _compress(compression, bytes(body))))
    for cid in sorted(offsets):
        entries = offsets[cid]
        idx_header = [
            _field("op", bytes([OP_IDXDATA])),
            _field("ver", _U32.pack(1)),
            _field("conn", _U32.pack(cid)),
            _field("count", _U32.pack(len(entries))),
        ]
        out.write(_record(idx_header, b"".join(_time_bytes(t) + _U32.pack(off) for t, off in entries)))
    times = [t for entries in offsets.values() for t, _ in entries]
    out.chunk_infos.append(ChunkInfo(new_pos, min(times), max(times), dict(kept)))
    return kept


def _fields_bytes(fields: dict[str, bytes]) -> list[bytes]:
    return [_field(name, value) for name, value in fields.items()]


def _chunk_info_record(info: ChunkInfo) -> bytes:
    fields = [
        _field("op", bytes([OP_CHUNK_INFO])),
        _field("ver", _U32.pack(1)),
        _field("chunk_pos", struct.pack("<Q", info.pos)),
        _field("start_time", _time_bytes(info.start_ns)),
        _field("end_time", _time_bytes(info.end_ns)),
        _field("count", _U32.pack(len(info.counts))),
    ]
    data = b"".join(struct.pack("<II", cid, n) for cid, n in sorted(info.counts.items()))
    return _record(fields, data)
