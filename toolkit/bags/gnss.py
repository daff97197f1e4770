"""GNSS facts of a bag from its NavSatFix topic: bounding box and a downsampled track.

The one place indexing decodes payloads, and only of that topic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from toolkit.bags.connection import BagConnection
from toolkit.bags.read import BagReader
from toolkit.bags.summary import GnssInfo
from toolkit.bags.types import is_decodable, typestore_for

NAVSATFIX = "sensor_msgs/msg/NavSatFix"
MAX_TRACK_POINTS = 500
STATUS_NO_FIX = -1


def downsample(points: Sequence[tuple[float, float]], limit: int = MAX_TRACK_POINTS) -> list[tuple[float, float]]:
    """Every k-th point so that at most *limit* remain; the last point is always kept (track end)."""
    if len(points) <= limit:
        return list(points)
    step = math.ceil(len(points) / (limit - 1))
    out = list(points[::step])
    if out[-1] != points[-1]:
        out.append(points[-1])
    return out[:limit]


def _valid(lat: float, lon: float, status: int) -> bool:
    if status < 0 or not (math.isfinite(lat) and math.isfinite(lon)):
        return False
    return -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0


def gnss_info(reader: BagReader, counts: dict[str, int]) -> GnssInfo | None:
    """GNSS summary of the NavSatFix topic with the most messages; None when the bag has none."""
    candidates = [c for c in reader.connections if c.msgtype == NAVSATFIX and is_decodable(c)]
    if not candidates:
        return None
    topic = max({c.topic for c in candidates}, key=lambda t: (counts.get(t, 0), t))
    conns: list[BagConnection] = [c for c in candidates if c.topic == topic]
    points: list[tuple[float, float]] = []
    for msg in reader.messages(conns):
        store = typestore_for(msg.connection)
        fix = (
            store.deserialize_ros1(msg.data, msg.msgtype)
            if msg.connection.encoding == "ros1"
            else store.deserialize_cdr(msg.data, msg.msgtype)
        )
        lat, lon, status = float(fix.latitude), float(fix.longitude), int(fix.status.status)  # type: ignore[attr-defined]
        if _valid(lat, lon, status):
            points.append((lat, lon))
    if not points:
        return None
    lats = [p[0] for p in points]
    lons = [p[1] for p in points]
    return GnssInfo(
        topic=topic,
        fixes=len(points),
        bbox=(min(lats), min(lons), max(lats), max(lons)),
        track=downsample(points),
    )
