"""BagSummary: what `index(path)` returns; the contract between bags, catalog, web and datasets.

Times are integer nanoseconds since the Unix epoch (as stored in bags);
helpers give seconds and ISO strings for display.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class BagFormat(StrEnum):
    ROS1 = "ros1"
    ROS2_SQLITE3 = "ros2"  # a rosbag2 directory (or single .db3) with sqlite3 storage
    MCAP = "mcap"  # a single .mcap file or a rosbag2 directory with mcap storage


class TopicInfo(BaseModel):
    name: str
    type: str  # ROS 2 spelling, e.g. sensor_msgs/msg/NavSatFix
    count: int
    frequency_hz: float | None = None  # count / duration when both are known
    serialization: str = ""  # cdr, ros1, ...
    connections: int = 1
    decodable: bool = True  # False when the schema is unknown to the type store


class GnssInfo(BaseModel):
    topic: str
    fixes: int
    bbox: tuple[float, float, float, float]  # min_lat, min_lon, max_lat, max_lon
    track: list[tuple[float, float]] = Field(default_factory=list)  # (lat, lon), downsampled


class BagSummary(BaseModel):
    path: str  # as given by the caller; absolute when indexed from the CLI
    format: BagFormat
    files: list[str] = Field(default_factory=list)  # storage files (split bags have several)
    size_bytes: int
    md5: str = ""  # over the storage files in order; "" when hashing was skipped
    sha256: str = ""
    start_ns: int | None = None  # None for bags without messages
    end_ns: int | None = None
    message_count: int = 0
    topics: list[TopicInfo] = Field(default_factory=list)
    compression: str = "none"  # none, bz2, lz4, zstd, mixed
    indexed_by: str = "index"  # "index" (summary/metadata) or "scan" (fallback)
    warnings: list[str] = Field(default_factory=list)  # e.g. "indexed by scan: 120 messages recovered"
    gnss: GnssInfo | None = None
    tags: dict[str, str] = Field(default_factory=dict)  # vehicle, driver, route, weather, ... (metadata/sidecar)
    notes: str = ""

    @property
    def duration_s(self) -> float:
        if self.start_ns is None or self.end_ns is None:
            return 0.0
        return (self.end_ns - self.start_ns) / 1e9

    @property
    def start_iso(self) -> str | None:
        return _iso(self.start_ns)

    @property
    def end_iso(self) -> str | None:
        return _iso(self.end_ns)

    def topic(self, name: str) -> TopicInfo | None:
        return next((t for t in self.topics if t.name == name), None)


def _iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat()
