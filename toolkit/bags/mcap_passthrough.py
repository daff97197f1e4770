"""MCAP -> MCAP slicing at chunk granularity: whole chunks are copied as raw bytes, untouched.

Chunks fully inside the range whose channels are all selected are copied
verbatim with their message-index records (toolkit.bags.bytecopy); edge
chunks are decompressed, filtered and rebuilt from the raw message records
with the source compression. Schemas, channels, statistics, chunk indexes and
summary offsets are written fresh with the mcap library's record classes
(its Writer cannot take pre-built chunks). Source metadata and attachment
records are not carried over. CRCs of rebuilt parts are computed; the data
section CRC is written as 0 ("not computed"), as the MCAP spec allows.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections import Counter
from pathlib import Path
from typing import BinaryIO

import lz4.frame
import zstandard
from mcap.data_stream import RecordBuilder
from mcap.opcode import Opcode
from mcap.reader import make_reader
from mcap.records import (
    Channel,
    Chunk,
    ChunkIndex,
    DataEnd,
    Footer,
    Header,
    Message,
    MessageIndex,
    Schema,
    Statistics,
    SummaryOffset,
)
from mcap.stream_reader import breakup_chunk
from mcap.summary import Summary

from toolkit.bags.bytecopy import copy_range
from toolkit.bags.formats import MCAP_MAGIC as MAGIC
from toolkit.bags.mcap_index import READ_ERRORS


def _compress(compression: str, data: bytes) -> bytes:
    if compression == "zstd":
        return bytes(zstandard.compress(data))
    if compression == "lz4":
        return bytes(lz4.frame.compress(data))
    return data


class _Out:
    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.builder = RecordBuilder()

    def flush(self) -> None:
        self.f.write(self.builder.end())

    def tell(self) -> int:
        self.flush()
        return self.f.tell()

    def copy_range(self, src_fd: int, offset: int, length: int) -> None:
        self.flush()
        copy_range(src_fd, self.f, offset, length)


def slice_mcap_chunks(
    src: Path, out: Path, channel_ids: set[int], lo: int, hi: int, summary: Summary | None = None
) -> Counter[int] | None:
    """Messages of *channel_ids* with ``lo <= t <= hi`` from *src* into a new MCAP *out*.

    *summary* is the source's parsed summary when the caller has it already. Returns messages per
    channel id, or None when the source has no usable summary/chunk index (the caller then copies
    message by message).
    """
    with src.open("rb") as f:
        try:
            reader = make_reader(f)
            header = reader.get_header()
            if summary is None:
                summary = reader.get_summary()
        except READ_ERRORS:
            return None
        if summary is None or not summary.chunk_indexes:
            return None
        if any(not c.message_index_offsets for c in summary.chunk_indexes):
            return None  # without message indexes a chunk's channels are unknown
        with out.open("wb") as of:
            return _write(f, of, header, summary, channel_ids, lo, hi)


def _write(
    f: BinaryIO, of: BinaryIO, header: Header, summary: Summary, channel_ids: set[int], lo: int, hi: int
) -> Counter[int]:
    src_fd = f.fileno()
    out = _Out(of)
    of.write(MAGIC)
    Header(profile=header.profile, library="pitlane").write(out.builder)
    channels = {cid: ch for cid, ch in summary.channels.items() if cid in channel_ids}
    schemas = {
        ch.schema_id: summary.schemas[ch.schema_id] for ch in channels.values() if ch.schema_id in summary.schemas
    }
    for schema in schemas.values():
        schema.write(out.builder)
    for channel in channels.values():
        channel.write(out.builder)

    counts: Counter[int] = Counter()
    indexes: list[ChunkIndex] = []
    times: list[int] = []
    run: list[ChunkIndex] = []  # whole chunks whose records are contiguous: copied in one call

    def flush_run() -> None:
        if run:
            for index in _copy_chunks(src_fd, run, out, counts):
                indexes.append(index)
                times.extend((index.message_start_time, index.message_end_time))
            run.clear()

    for chunk in sorted(summary.chunk_indexes, key=lambda c: c.chunk_start_offset):
        in_chunk = set(chunk.message_index_offsets)
        if chunk.message_end_time < lo or chunk.message_start_time > hi or not (in_chunk & channel_ids):
            continue
        if lo <= chunk.message_start_time and chunk.message_end_time <= hi and in_chunk <= channel_ids:
            if not _contiguous(chunk):
                flush_run()
                run.append(chunk)
                flush_run()
            else:
                if run and _region(run[-1])[1] != chunk.chunk_start_offset:
                    flush_run()
                run.append(chunk)
            continue
        flush_run()
        rebuilt = _rebuild_chunk(f, chunk, channel_ids, lo, hi, out, counts)
        if rebuilt is not None:
            indexes.append(rebuilt)
            times.extend((rebuilt.message_start_time, rebuilt.message_end_time))
    flush_run()

    DataEnd(data_section_crc=0).write(out.builder)
    summary_start = out.tell()
    builder = RecordBuilder()
    offsets: list[SummaryOffset] = []

    def group(opcode: Opcode, records: list[Schema] | list[Channel] | list[Statistics] | list[ChunkIndex]) -> None:
        start = builder.count
        for record in records:
            record.write(builder)
        offsets.append(SummaryOffset(opcode, summary_start + start, builder.count - start))

    group(Opcode.SCHEMA, list(schemas.values()))
    group(Opcode.CHANNEL, list(channels.values()))
    stats = Statistics(
        message_count=sum(counts.values()),
        schema_count=len(schemas),
        channel_count=len(channels),
        attachment_count=0,
        metadata_count=0,
        chunk_count=len(indexes),
        message_start_time=min(times) if times else 0,
        message_end_time=max(times) if times else 0,
        channel_message_counts=dict(counts),
    )
    group(Opcode.STATISTICS, [stats])
    group(Opcode.CHUNK_INDEX, indexes)
    offset_start = summary_start + builder.count
    for offset in offsets:
        offset.write(builder)
    of.write(builder.end())
    Footer(summary_start=summary_start, summary_offset_start=offset_start, summary_crc=0).write(out.builder)
    out.flush()
    of.write(MAGIC)
    return counts


def _region(chunk: ChunkIndex) -> tuple[int, int]:
    """[start, end) of a chunk record and its message-index records."""
    index_start = min(chunk.message_index_offsets.values())
    return chunk.chunk_start_offset, index_start + chunk.message_index_length


def _contiguous(chunk: ChunkIndex) -> bool:
    """True when the message indexes directly follow the chunk (as every writer lays them out)."""
    return min(chunk.message_index_offsets.values()) == chunk.chunk_start_offset + chunk.chunk_length


def _copy_chunks(src_fd: int, run: list[ChunkIndex], out: _Out, counts: Counter[int]) -> list[ChunkIndex]:
    """Copy whole chunks with their message indexes; contiguous ones in a single kernel copy."""
    if len(run) == 1 and not _contiguous(run[0]):
        return [_copy_split_chunk(src_fd, run[0], out, counts)]
    start, end = _region(run[0])[0], _region(run[-1])[1]
    base = out.tell()
    out.copy_range(src_fd, start, end - start)
    shift = base - start
    return [_moved(chunk, shift, shift, src_fd, counts) for chunk in run]


def _copy_split_chunk(src_fd: int, chunk: ChunkIndex, out: _Out, counts: Counter[int]) -> ChunkIndex:
    index_start = min(chunk.message_index_offsets.values())
    new_chunk_pos = out.tell()
    out.copy_range(src_fd, chunk.chunk_start_offset, chunk.chunk_length)
    new_index_pos = out.tell()
    out.copy_range(src_fd, index_start, chunk.message_index_length)
    return _moved(chunk, new_chunk_pos - chunk.chunk_start_offset, new_index_pos - index_start, src_fd, counts)


def _moved(chunk: ChunkIndex, chunk_shift: int, index_shift: int, src_fd: int, counts: Counter[int]) -> ChunkIndex:
    for cid, offset in chunk.message_index_offsets.items():
        # MessageIndex: opcode u8, length u64, channel u16, records_len u32, then 16 bytes per message.
        (records_len,) = struct.unpack("<I", os.pread(src_fd, 4, offset + 11))
        counts[cid] += records_len // 16
    return ChunkIndex(
        message_start_time=chunk.message_start_time,
        message_end_time=chunk.message_end_time,
        chunk_start_offset=chunk.chunk_start_offset + chunk_shift,
        chunk_length=chunk.chunk_length,
        message_index_offsets={cid: off + index_shift for cid, off in chunk.message_index_offsets.items()},
        message_index_length=chunk.message_index_length,
        compression=chunk.compression,
        compressed_size=chunk.compressed_size,
        uncompressed_size=chunk.uncompressed_size,
    )


def _read_chunk(f: BinaryIO, chunk: ChunkIndex) -> Chunk:
    from mcap.data_stream import ReadDataStream

    f.seek(chunk.chunk_start_offset + 1 + 8)  # skip opcode and record length
    return Chunk.read(ReadDataStream(f))


def _rebuild_chunk(
    f: BinaryIO, chunk: ChunkIndex, channel_ids: set[int], lo: int, hi: int, out: _Out, counts: Counter[int]
) -> ChunkIndex | None:
    body = RecordBuilder()
    entries: dict[int, list[tuple[int, int]]] = {}
    start, end = None, None
    for record in breakup_chunk(_read_chunk(f, chunk)):
        if isinstance(record, Message) and record.channel_id in channel_ids and lo <= record.log_time <= hi:
            entries.setdefault(record.channel_id, []).append((record.log_time, body.count))
            record.write(body)
            start = record.log_time if start is None else min(start, record.log_time)
            end = record.log_time if end is None else max(end, record.log_time)
    if start is None or end is None:
        return None
    data = body.end()
    compressed = _compress(chunk.compression, data)
    new_chunk_pos = out.tell()
    Chunk(
        compression=chunk.compression,
        data=compressed,
        message_start_time=start,
        message_end_time=end,
        uncompressed_crc=zlib.crc32(data),
        uncompressed_size=len(data),
    ).write(out.builder)
    chunk_length = out.builder.count
    index_pos = out.tell()
    offsets = {}
    for cid in sorted(entries):
        offsets[cid] = index_pos + out.builder.count
        MessageIndex(channel_id=cid, records=entries[cid]).write(out.builder)
        counts[cid] += len(entries[cid])
    index_length = out.builder.count
    out.flush()
    return ChunkIndex(
        message_start_time=start,
        message_end_time=end,
        chunk_start_offset=new_chunk_pos,
        chunk_length=chunk_length,
        message_index_offsets=offsets,
        message_index_length=index_length,
        compression=chunk.compression,
        compressed_size=len(compressed),
        uncompressed_size=len(data),
    )
