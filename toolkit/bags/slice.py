"""``slice_bag``: copy the raw messages of a time range and topic set into a new bag, with lineage.

Same format in and out copies bytes untouched. ROS 1 -> MCAP keeps ROS 1
serialization (an MCAP ``ros1`` profile file), so bytes are untouched there
too; conversions between ROS 1 and rosbag2 re-serialize through rosbags.
The bag appears under its final name only when complete (temp + rename).
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from toolkit.bags.connection import BagConnection
from toolkit.bags.indexer import hash_files, index
from toolkit.bags.lineage import Lineage, LineageSource, lineage_path, write_lineage
from toolkit.bags.read import BagReader
from toolkit.bags.sqlite_slice import DEFAULT_SPLIT_BYTES, SqliteSource, check_split_bytes, copy_sqlite_slice
from toolkit.bags.summary import BagFormat
from toolkit.bags.timebounds import INT64_MAX, MIN_NS, TimeRange, resolve_range
from toolkit.bags.writers import McapSink, Ros1Sink, Ros2Sink, Sink, converter_for
from toolkit.errors import BagError, ConflictError, SliceRangeError

TimeBound = int | str | datetime | None


class SliceResult(BaseModel):
    source: str
    output: str
    format: BagFormat
    start_ns: int  # the range written, inclusive at both ends (see Lineage)
    end_ns: int
    topics: list[str]
    message_count: int
    per_topic: dict[str, int]
    converted: bool
    lineage: str  # path of the lineage sidecar
    left_out: dict[str, str] = {}  # topic -> why the output format cannot hold it


def output_format(out: Path, fmt: BagFormat | str | None, source: BagFormat) -> BagFormat:
    """The format to write: explicit *fmt*, else the output suffix (.bag, .mcap), else the source's."""
    if fmt is not None:
        try:
            return BagFormat(str(fmt).lower())
        except ValueError:
            raise BagError(f"unknown output format {fmt!r} (use ros1, ros2 or mcap)") from None
    suffix = out.suffix.lower()
    if suffix == ".bag":
        return BagFormat.ROS1
    if suffix == ".mcap":
        return BagFormat.MCAP
    return source


def slice_bag(
    src: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    start: TimeBound = None,
    end: TimeBound = None,
    topics: list[str] | None = None,
    fmt: BagFormat | str | None = None,
    overwrite: bool = False,
    source_md5: str | None = None,
    split_bytes: int | None = None,
) -> SliceResult:
    """Write messages of *src* with ``start <= t <= end`` on *topics* (names or globs) to a new bag *out*.

    Bounds take absolute ns, ISO datetimes or offsets (see ``parse_time_bound``); a missing bound is
    open, so no bounds copy the whole bag whatever its index says its start and end are.
    Topics the output format cannot hold are left out and named in ``left_out`` (an error when no
    topic is left). *source_md5* skips re-hashing the source when the caller already knows it (e.g.
    from the data repo's .dvc file).
    A rosbag2 sqlite3 slice of a sqlite3 bag larger than *split_bytes* (default 256 MiB; 0: never)
    is written as a split bag whose files are written in parallel.
    """
    out_path = Path(out)
    split = DEFAULT_SPLIT_BYTES if split_bytes is None else split_bytes
    check_split_bytes(split)
    summary = index(src, hashes=False, gnss=False)
    if summary.start_ns is None or summary.end_ns is None:
        raise SliceRangeError(f"{src}: bag has no messages to slice")
    rng = resolve_range(start, end, summary.start_ns, summary.end_ns)
    target = output_format(out_path, fmt, summary.format)
    _check_output(out_path, target, overwrite)

    with BagReader(src) as reader:
        selected = reader.select(topics)
        if not selected:
            names = ", ".join(sorted({c.topic for c in reader.connections})) or "none"
            raise BagError(f"no topic matches {', '.join(topics or [])} (topics: {names})")
        # Everything is written inside a hidden work directory next to the output and renamed into
        # place at the end: an interrupted slice leaves no half bag under the final name.
        work = out_path.parent / f".{out_path.name}.partial-{os.getpid()}"
        _remove(work)
        work.mkdir()
        tmp = work / out_path.name
        try:
            selected, left_out = _representable(selected, reader.format, target, tmp)
            counts, converted = _copy_fastest(reader, selected, rng, tmp, target, summary.compression, split)
            if not counts:
                raise SliceRangeError(f"no messages of the selected topics in {_describe(rng)}")
            lo, hi = _written_range(tmp, rng, summary.start_ns, summary.end_ns)
            md5 = source_md5 or hash_files(reader.layout.files)[0]
            lineage = Lineage(
                tool_version=_tool_version(),
                created_at=datetime.now(tz=UTC).isoformat(),
                source=LineageSource(
                    path=str(Path(src).resolve()),
                    format=summary.format,
                    md5=md5,
                    size_bytes=summary.size_bytes,
                ),
                output_format=target,
                start_ns=lo,
                end_ns=hi,
                topics=sorted({c.topic for c in selected}),
                topic_patterns=list(topics) if topics is not None else None,
                message_count=sum(counts.values()),
                per_topic=dict(sorted(counts.items())),
                converted=converted,
                left_out=left_out,
            )
            tmp_lineage = write_lineage(tmp, lineage)
            if overwrite:
                _remove(out_path)
                _remove(lineage_path(out_path))
            os.replace(tmp, out_path)
            os.replace(tmp_lineage, lineage_path(out_path))
        finally:
            _remove(work)
    return SliceResult(
        source=str(src),
        output=str(out_path),
        format=target,
        start_ns=lo,
        end_ns=hi,
        topics=lineage.topics,
        message_count=lineage.message_count,
        per_topic=lineage.per_topic,
        converted=converted,
        lineage=str(lineage_path(out_path)),
        left_out=left_out,
    )


def _describe(rng: TimeRange) -> str:
    if rng.unbounded:
        return "the bag"
    return f"[{'' if rng.lo is None else rng.lo} .. {'' if rng.hi is None else rng.hi}] ns"


def _written_range(out: Path, rng: TimeRange, bag_start: int, bag_end: int) -> tuple[int, int]:
    """The range to record: each given bound, and for an open side the bag's own start or end, widened
    to the output's first or last message where the source's index claimed less (an index can misstate
    them, e.g. MCAP statistics with a start later than the first message)."""
    lo, hi = rng.lo, rng.hi
    if lo is None or hi is None:
        written = index(out, hashes=False, gnss=False)
        if lo is None:
            lo = bag_start if written.start_ns is None else min(bag_start, written.start_ns)
        if hi is None:
            hi = bag_end if written.end_ns is None else max(bag_end, written.end_ns)
    return lo, hi


def _representable(
    selected: list[BagConnection], source: BagFormat, target: BagFormat, tmp: Path
) -> tuple[list[BagConnection], dict[str, str]]:
    """Split the selection into what *target* can hold and what it cannot (topic -> one-line reason)."""
    if source == target and (target != BagFormat.MCAP or tmp.suffix.lower() == ".mcap"):
        return selected, {}  # same format: bytes are copied as they are
    encoding = "ros1" if target == BagFormat.ROS1 else "cdr" if target == BagFormat.ROS2_SQLITE3 else None
    if target == BagFormat.MCAP and tmp.suffix.lower() != ".mcap":
        encoding = "cdr"  # MCAP storage inside a rosbag2 directory
    if encoding is None:
        return selected, {}  # a plain .mcap keeps every serialization
    kept: list[BagConnection] = []
    left_out: dict[str, str] = {}
    for conn in selected:
        try:
            converter_for(conn, encoding)
        except BagError:
            left_out[conn.topic] = _reason(conn, encoding)
            continue
        kept.append(conn)
    if not kept:
        names = ", ".join(sorted(left_out))
        raise BagError(f"no selected topic can be written as {target.value}: {names} ({next(iter(left_out.values()))})")
    kept_topics = {c.topic for c in kept}
    # A topic recorded with several types (ROS 1 allows it) may lose only some of its connections.
    return kept, {t: f"{r} (its other types are kept)" if t in kept_topics else r for t, r in sorted(left_out.items())}


def _reason(conn: BagConnection, encoding: str) -> str:
    if conn.encoding not in ("ros1", "cdr"):
        return f"{conn.encoding} messages cannot be converted to {encoding}"
    return f"{conn.msgtype} cannot be converted to {encoding}"


def _check_output(out: Path, target: BagFormat, overwrite: bool) -> None:
    if out.exists() and not overwrite:
        raise ConflictError(f"{out}: already exists (pass overwrite to replace it)")
    if not out.parent.is_dir():
        raise BagError(f"{out.parent}: output directory does not exist")
    if target == BagFormat.ROS2_SQLITE3 and out.suffix.lower() in (".db3", ".bag", ".mcap"):
        raise BagError(f"{out}: a rosbag2 slice is a directory; give a path without {out.suffix}")


def _copy_fastest(
    reader: BagReader,
    selected: list[BagConnection],
    rng: TimeRange,
    tmp: Path,
    target: BagFormat,
    source_compression: str,
    split_bytes: int,
) -> tuple[Counter[str], bool]:
    """ROS 1 -> ROS 1 and MCAP -> MCAP copy whole chunks where they can, sqlite3 -> sqlite3 copies rows
    in SQL; everything else goes message by message."""
    lo, hi = rng.closed()
    if reader.format == BagFormat.ROS1 and target == BagFormat.ROS1 and not reader.recovered_by_scan:
        from toolkit.bags.ros1_passthrough import slice_ros1_chunks

        done = slice_ros1_chunks(reader.layout.files[0], tmp, {c.id for c in selected}, lo, hi, reader.ros1_index)
        if done is not None:
            topic_of = {c.id: c.topic for c in selected}
            per_topic: Counter[str] = Counter()
            for cid, n in done[0].items():
                per_topic[topic_of[cid]] += n
            return +per_topic, False
        _remove(tmp)
    if (
        reader.format == BagFormat.MCAP
        and target == BagFormat.MCAP
        and tmp.suffix.lower() == ".mcap"
        and len(reader.mcap_channels) == 1
        and not reader.recovered_by_scan
    ):
        from toolkit.bags.mcap_passthrough import slice_mcap_chunks

        path, channel_map = reader.mcap_channels[0]
        wanted = {c.id for c in selected}
        topic_of = {c.id: c.topic for c in selected}
        channels = {ch: cid for ch, cid in channel_map.items() if cid in wanted}
        copied = slice_mcap_chunks(path, tmp, set(channels), lo, hi, reader.mcap_summaries.get(path))
        if copied is not None:
            mcap_topics: Counter[str] = Counter()
            for ch, n in copied.items():
                mcap_topics[topic_of[channels[ch]]] += n
            return +mcap_topics, False
        _remove(tmp)
    if (
        reader.format == BagFormat.ROS2_SQLITE3
        and target == BagFormat.ROS2_SQLITE3
        and not reader.message_compressed
        and reader.sqlite_rows
    ):
        sql_lo, sql_hi = rng.closed(MIN_NS, INT64_MAX)  # rosbag2 stamps are int64
        return _copy_sqlite(reader, selected, sql_lo, sql_hi, tmp, split_bytes), False
    return _copy(reader, selected, rng, tmp, target, source_compression)


def _copy_sqlite(
    reader: BagReader, selected: list[BagConnection], lo: int, hi: int, tmp: Path, split_bytes: int
) -> Counter[str]:
    wanted = {c.id for c in selected}
    picked = [(path, {row: cid for row, cid in rows.items() if cid in wanted}) for path, rows in reader.sqlite_rows]
    sources = [SqliteSource(path, rows) for path, rows in picked if rows]
    return copy_sqlite_slice(sources, selected, lo, hi, tmp, split_bytes)


def _copy(
    reader: BagReader,
    selected: list[BagConnection],
    rng: TimeRange,
    tmp: Path,
    target: BagFormat,
    source_compression: str,
) -> tuple[Counter[str], bool]:
    sink = _open_sink(tmp, target, reader.format, selected, source_compression)
    counts: Counter[str] = Counter()
    converted = False
    try:
        handles: dict[int, object] = {}
        converters = {}
        for conn in selected:
            conv = converter_for(conn, sink.target_encoding(conn))
            converted = converted or conn.encoding != sink.target_encoding(conn)
            converters[conn.id] = conv
            handles[conn.id] = sink.add(conn)
        for msg in reader.messages(selected, rng.lo, rng.hi):
            sink.write(handles[msg.connection.id], msg.timestamp_ns, converters[msg.connection.id](msg.data))
            counts[msg.topic] += 1
    finally:
        sink.close()
    return counts, converted


def _open_sink(
    tmp: Path, target: BagFormat, source: BagFormat, selected: list[BagConnection], compression: str
) -> Sink:
    if target == BagFormat.ROS1:
        return Ros1Sink(tmp, compression if source == BagFormat.ROS1 else "none")
    if target == BagFormat.ROS2_SQLITE3:
        return Ros2Sink(tmp, "sqlite3")
    if tmp.suffix.lower() != ".mcap":  # MCAP storage in a rosbag2 directory
        return Ros2Sink(tmp, "mcap")
    encodings = {c.encoding for c in selected}
    profile = "ros1" if encodings == {"ros1"} else "ros2" if encodings == {"cdr"} else ""
    mcap_compression = compression if source == BagFormat.MCAP and compression in ("zstd", "lz4", "none") else "zstd"
    return McapSink(tmp, mcap_compression, profile)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


def _tool_version() -> str:
    from toolkit import __version__

    return __version__
