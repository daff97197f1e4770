"""``index(path) -> BagSummary``: a bag's facts from its summary/index/metadata, never its payloads.

Exceptions: the optional md5/sha256 read whole files (``hashes=False`` skips
them), and GNSS decodes the NavSatFix topic only.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from toolkit.bags.connection import ConnectionStats, StorageIndex
from toolkit.bags.formats import BagLayout, resolve
from toolkit.bags.sidecar import read_sidecar
from toolkit.bags.summary import BagFormat, BagSummary, TopicInfo
from toolkit.bags.types import is_decodable
from toolkit.errors import BagError, BagPermissionError

HASH_BLOCK = 1 << 20


def index(path: str | os.PathLike[str], *, hashes: bool = True, gnss: bool = True) -> BagSummary:
    """Summarize one bag (ROS 1 file, MCAP file, rosbag2 directory or .db3) without reading payloads."""
    layout = resolve(path)
    try:
        storage = _index_storage(layout)
        summary = _summary(layout, storage)
        if hashes:
            summary.md5, summary.sha256 = hash_files(layout.files)
        if gnss:
            _add_gnss(layout, summary)
    except PermissionError as exc:
        raise BagPermissionError(f"{layout.path}: permission denied") from exc
    except IsADirectoryError as exc:
        raise BagError(f"{layout.path}: expected a file, found a directory") from exc
    tags, notes = read_sidecar(layout.path)
    summary.tags = {**storage.custom_data, **_metadata_custom_data(layout), **tags}
    summary.notes = notes
    return summary


def _index_storage(layout: BagLayout) -> StorageIndex:
    if layout.format == BagFormat.ROS1:
        from toolkit.bags.ros1_index import index_ros1

        return index_ros1(layout.files[0])
    if layout.format == BagFormat.ROS2_SQLITE3:
        from toolkit.bags.sqlite_index import index_sqlite

        return index_sqlite(layout.files, layout.metadata)
    from toolkit.bags.mcap_index import index_mcap

    return index_mcap(layout.files)


def _summary(layout: BagLayout, storage: StorageIndex) -> BagSummary:
    starts = [s.start_ns for s in storage.stats if s.count and s.start_ns is not None]
    ends = [s.end_ns for s in storage.stats if s.count and s.end_ns is not None]
    start_ns = min(starts) if starts else None
    end_ns = max(ends) if ends else None
    duration_s = (end_ns - start_ns) / 1e9 if start_ns is not None and end_ns is not None else 0.0
    return BagSummary(
        path=str(layout.path),
        format=layout.format,
        files=[str(f) for f in layout.files],
        size_bytes=layout.size_bytes,
        start_ns=start_ns,
        end_ns=end_ns,
        message_count=sum(s.count for s in storage.stats),
        topics=_topics(storage.stats, duration_s),
        compression=_compression(storage.compression),
        indexed_by=storage.indexed_by,
        warnings=list(storage.warnings),
    )


def _topics(stats: Sequence[ConnectionStats], duration_s: float) -> list[TopicInfo]:
    grouped: dict[str, list[ConnectionStats]] = {}
    for s in stats:
        grouped.setdefault(s.connection.topic, []).append(s)
    topics = []
    for name in sorted(grouped):
        group = grouped[name]
        count = sum(s.count for s in group)
        types = sorted({s.connection.msgtype for s in group})
        encodings = sorted({s.connection.encoding for s in group})
        topics.append(
            TopicInfo(
                name=name,
                type=types[0] if len(types) == 1 else " | ".join(types),
                count=count,
                frequency_hz=round(count / duration_s, 3) if duration_s > 0 and count > 1 else None,
                serialization=",".join(encodings),
                connections=len(group),
                decodable=all(is_decodable(s.connection) for s in group),
            )
        )
    return topics


def _metadata_custom_data(layout: BagLayout) -> dict[str, str]:
    data = layout.metadata.get("custom_data")
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _compression(found: set[str]) -> str:
    names = {c.lower() or "none" for c in found} or {"none"}
    return names.pop() if len(names) == 1 else "mixed"


def hash_files(files: Sequence[Path]) -> tuple[str, str]:
    """md5 and sha256 over the storage files in order, streamed in 1 MiB blocks."""
    md5 = hashlib.md5(usedforsecurity=False)
    sha = hashlib.sha256()
    for path in files:
        with Path(path).open("rb") as f:
            while block := f.read(HASH_BLOCK):
                md5.update(block)
                sha.update(block)
    return md5.hexdigest(), sha.hexdigest()


def _add_gnss(layout: BagLayout, summary: BagSummary) -> None:
    from toolkit.bags.gnss import NAVSATFIX, gnss_info
    from toolkit.bags.read import BagReader

    if not any(t.type == NAVSATFIX and t.count for t in summary.topics):
        return
    counts = {t.name: t.count for t in summary.topics}
    try:
        with BagReader(layout.path) as reader:
            summary.gnss = gnss_info(reader, counts)
    except BagError as exc:
        summary.warnings.append(f"GNSS track unavailable: {exc}")
