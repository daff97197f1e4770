"""Sidecars built in code for catalog and search tests (the index itself is tested on real bags)."""

from __future__ import annotations

import hashlib

from toolkit.bags.summary import BagFormat, BagSummary, GnssInfo, TopicInfo
from toolkit.data.sidecar import Sidecar, bag_id

T0 = 1_735_689_600_000_000_000  # 2025-01-01T00:00:00Z


def make_sidecar(
    path: str,
    *,
    fmt: BagFormat = BagFormat.MCAP,
    start_s: float | None = 0.0,
    duration_s: float = 10.0,
    topics: list[tuple[str, str, int]] | None = None,
    tags: dict[str, str] | None = None,
    bag_tags: dict[str, str] | None = None,
    notes: str = "",
    gnss: tuple[float, float, float, float] | None = None,
    size: int = 1000,
    compression: str = "none",
) -> Sidecar:
    sha = hashlib.sha256(path.encode()).hexdigest()
    topic_list = [TopicInfo(name=n, type=t, count=c) for n, t, c in (topics or [])]
    start = None if start_s is None else T0 + int(start_s * 1e9)
    end = None if start is None else start + int(duration_s * 1e9)
    summary = BagSummary(
        path=path,
        format=fmt,
        files=[path],
        size_bytes=size,
        sha256=sha,
        start_ns=start,
        end_ns=end,
        message_count=sum(c for _, _, c in (topics or [])),
        topics=topic_list,
        compression=compression,
        gnss=GnssInfo(topic="/fix", fixes=10, bbox=gnss, track=[(gnss[0], gnss[1]), (gnss[2], gnss[3])])
        if gnss
        else None,
        tags=bag_tags or {},
    )
    return Sidecar(id=bag_id(sha), path=path, summary=summary, tags=tags or {}, notes=notes)
