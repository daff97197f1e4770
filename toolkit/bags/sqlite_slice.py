"""rosbag2 sqlite3 -> sqlite3 slices in SQL, written as a split bag of parallel files when large.

SQLite writes a database from one thread, and writing the pages is most of a slice's time
(one ``pwrite`` per 64 KiB page). A slice bigger than *split_bytes* therefore becomes a
split rosbag2 bag, as ``ros2 bag record --max-bag-size`` makes: the time range is cut into
spans holding equal shares of the payload bytes, one ``NAME_k.db3`` each, written by parallel
threads (Python's sqlite3 lets go of the GIL while sqlite copies rows). Readers (``ros2 bag``,
rosbags, Pitlane) take the files in ``metadata.yaml`` order. The split depends only on the data
and *split_bytes*, never on the core count, so the same slice always comes out as the same files.
"""

from __future__ import annotations

import itertools
import math
import os
import shutil
import sqlite3
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from toolkit.bags.connection import BagConnection
from toolkit.bags.formats import METADATA_YAML, load_yaml
from toolkit.bags.sqlite_index import open_db
from toolkit.bags.writers import Ros2Sink
from toolkit.cpus import usable_cpus
from toolkit.errors import BagError, CorruptBagError

_YAML_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
MiB = 1 << 20
# About a quarter of a GiB per file: a slice of a few minutes of camera data spreads over the
# cores, and each file is still big enough that opening it costs nothing next to its copy.
DEFAULT_SPLIT_BYTES = 256 * MiB
# One 64 KiB output page: a smaller file would be all schema.
MIN_SPLIT_BYTES = 64 * 1024


def parse_split_size(text: str) -> int:
    """'256MiB', '1.5GB', '300000' or '0' as bytes, checked by ``check_split_bytes``."""
    from pydantic import ByteSize, TypeAdapter, ValidationError

    try:
        size = int(TypeAdapter(ByteSize).validate_python(text.strip()))
    except ValidationError:
        raise BagError(f"split size {text!r}: give bytes with a unit, e.g. 256MiB or 1GB (0: one file)") from None
    check_split_bytes(size)
    return size


def check_split_bytes(size: int) -> None:
    if size != 0 and size < MIN_SPLIT_BYTES:
        raise BagError(f"split size {size} bytes: use 0 (one file) or at least {MIN_SPLIT_BYTES // 1024} KiB")


@dataclass(frozen=True)
class SqliteSource:
    """One storage file of the source bag and its selected topics (topic row id -> connection id)."""

    path: Path
    rows: dict[int, int]


def copy_sqlite_slice(
    sources: Sequence[SqliteSource],
    selected: Sequence[BagConnection],
    lo: int,
    hi: int,
    out: Path,
    split_bytes: int = DEFAULT_SPLIT_BYTES,
) -> Counter[str]:
    """Copy the selected topics' messages with lo <= t <= hi into the rosbag2 directory *out*.

    Returns messages per topic. *split_bytes* <= 0 always writes one file.
    """
    total = 0
    for source in sources:
        with _query(source, "SELECT sum(length(data))", lo, hi) as rows:
            total += next(rows)[0] or 0
    count = 1 if split_bytes <= 0 else math.ceil(total / split_bytes)
    spans = _spans(sources, lo, hi, total, count) if count > 1 else [(lo, hi)]
    if len(spans) == 1:
        return _write_part(sources, selected, lo, hi, out)
    names = [f"{out.name}_{k}" for k in range(len(spans))]
    staging = out.parent / f".{out.name}.parts"
    staging.mkdir()
    workers = min(len(spans), usable_cpus())
    jobs = [(sources, selected, a, b, staging / n) for n, (a, b) in zip(names, spans, strict=True)]
    # The calling thread writes the last part itself: one thread fewer to start.
    with ThreadPoolExecutor(max_workers=max(1, workers - 1), thread_name_prefix="pitlane-slice") as pool:
        futures = [pool.submit(_write_part, *job) for job in jobs[:-1]]
        last = _write_part(*jobs[-1])
        per_part = [f.result() for f in futures] + [last]
    _merge(staging, names, out)
    shutil.rmtree(staging)
    return sum(per_part, Counter())


@contextmanager
def _query(source: SqliteSource, select: str, lo: int, hi: int, order: str = "") -> Iterator[sqlite3.Cursor]:
    """*select* over the source's selected messages in [lo, hi]; length(data) reads cell headers, not blobs."""
    marks = ",".join("?" * len(source.rows))
    sql = f"{select} FROM messages WHERE topic_id IN ({marks}) AND timestamp BETWEEN ? AND ? {order}"
    try:
        with open_db(source.path, scan=True) as db:
            yield db.execute(sql, (*source.rows, lo, hi))
    except sqlite3.DatabaseError as exc:
        raise CorruptBagError(f"{source.path}: damaged sqlite3 storage ({exc})") from exc


def _spans(sources: Sequence[SqliteSource], lo: int, hi: int, total: int, count: int) -> list[tuple[int, int]]:
    """Up to *count* back-to-back inclusive time ranges over [lo, hi], each holding about total/count bytes.

    A part starts at the first message whose first byte lies past the previous part's share, unless
    that message shares its time with the previous part's first (messages of one time stay together,
    so no range is empty).
    """
    firsts: list[int] = []
    seen = 0  # payload bytes before the current message
    part = 0
    for source in sources:
        with _query(source, "SELECT timestamp, length(data)", lo, hi, "ORDER BY timestamp, id") as rows:
            for ts, size in rows:
                if not firsts or (seen * count >= (part + 1) * total and ts > firsts[-1]):
                    firsts.append(ts)
                    part = seen * count // total
                seen += size
    starts = [lo, *firsts[1:]]
    return [(a, b - 1) for a, b in itertools.pairwise(starts)] + [(starts[-1], hi)]


def _write_part(
    sources: Sequence[SqliteSource], selected: Sequence[BagConnection], lo: int, hi: int, path: Path
) -> Counter[str]:
    """One rosbag2 directory *path* (``NAME.db3`` + metadata.yaml) with the messages in [lo, hi]."""
    sink = Ros2Sink(path, "sqlite3")
    try:
        handles = {c.id: sink.add(c) for c in selected}
        for source in sources:
            rows = {row: handles[cid] for row, cid in source.rows.items() if cid in handles}
            if rows:
                sink.copy_sqlite_rows(source.path, rows, lo, hi)
        per_handle = sink.sync_counters()
    finally:
        sink.close()
    per_topic: Counter[str] = Counter()
    for conn in selected:
        per_topic[conn.topic] += per_handle.get(int(handles[conn.id].id), 0)  # type: ignore[attr-defined]
    return +per_topic


def _merge(staging: Path, names: list[str], out: Path) -> None:
    """Move each part's .db3 into *out* and write one metadata.yaml that lists them in time order."""
    infos = [_info(staging / n / METADATA_YAML) for n in names]
    out.mkdir()
    for name in names:
        os.replace(staging / name / f"{name}.db3", out / f"{name}.db3")
    doc = {"rosbag2_bagfile_information": _combined(infos)}
    (out / METADATA_YAML).write_text(yaml.dump(doc, Dumper=_YAML_DUMPER, sort_keys=False))


def _info(metadata_yaml: Path) -> dict[str, Any]:
    info: dict[str, Any] = load_yaml(metadata_yaml.read_text(encoding="utf-8"))["rosbag2_bagfile_information"]
    return info


def _combined(infos: list[dict[str, Any]]) -> dict[str, Any]:
    """The bag-wide rosbag2_bagfile_information of split files, from each file's own."""
    starts = [int(i["starting_time"]["nanoseconds_since_epoch"]) for i in infos]
    ends = [s + int(i["duration"]["nanoseconds"]) for s, i in zip(starts, infos, strict=True)]
    counts: Counter[str] = Counter()
    for info in infos:
        for t in info["topics_with_message_count"]:
            counts[t["topic_metadata"]["name"]] += int(t["message_count"])
    first = infos[0]["topics_with_message_count"]
    topics = [{**t, "message_count": counts[t["topic_metadata"]["name"]]} for t in first]
    return {
        **infos[0],
        "relative_file_paths": [f["path"] for i in infos for f in i["files"]],
        "duration": {"nanoseconds": max(ends) - min(starts)},
        "starting_time": {"nanoseconds_since_epoch": min(starts)},
        "message_count": sum(int(i["message_count"]) for i in infos),
        "topics_with_message_count": topics,
        "files": [f for i in infos for f in i["files"]],
    }
