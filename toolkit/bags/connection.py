"""One connection (ROS 1 connection, rosbag2 topic row, MCAP channel) in a format-neutral shape.

Readers, the index and the slicer all speak this type, so a slice can map a
source connection to a destination one without knowing where it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from rosbags.typesys.msg import normalize_msgtype


@dataclass(frozen=True)
class BagConnection:
    id: int  # unique within one opened bag (split files are renumbered)
    topic: str
    msgtype: str  # ROS 2 spelling: sensor_msgs/msg/NavSatFix
    encoding: str  # message serialization: "ros1", "cdr", "json", ...
    msgdef: str = ""  # message definition text as stored in the bag ("" when the bag has none)
    msgdef_format: str = ""  # "ros1msg", "ros2msg", "ros2idl" or ""
    md5sum: str = ""  # ROS 1 type hash
    callerid: str | None = None  # ROS 1
    latching: int | None = None  # ROS 1
    qos: str = ""  # rosbag2 offered_qos_profiles (YAML text)
    type_hash: str = ""  # rosbag2 type_description_hash (RIHS01)


@dataclass
class ConnectionStats:
    """Counts and time range of one connection, taken from the storage's index."""

    connection: BagConnection
    count: int = 0
    start_ns: int | None = None
    end_ns: int | None = None

    def add(self, count: int, start_ns: int | None, end_ns: int | None) -> None:
        self.count += count
        if start_ns is not None:
            self.start_ns = start_ns if self.start_ns is None else min(self.start_ns, start_ns)
        if end_ns is not None:
            self.end_ns = end_ns if self.end_ns is None else max(self.end_ns, end_ns)


@dataclass
class StorageIndex:
    """What one format-specific indexer found; ``toolkit.bags.indexer`` turns it into a BagSummary."""

    stats: list[ConnectionStats]
    compression: set[str] = field(default_factory=set)  # per-chunk / per-file compression names
    indexed_by: str = "index"
    warnings: list[str] = field(default_factory=list)
    custom_data: dict[str, str] = field(default_factory=dict)  # rosbag2 metadata custom_data


class Message(NamedTuple):
    """One raw message; unpacks as ``topic, msgtype, timestamp_ns, data, connection``."""

    topic: str
    msgtype: str
    timestamp_ns: int
    data: bytes
    connection: BagConnection


def ros2_type_name(name: str) -> str:
    """``sensor_msgs/NavSatFix`` -> ``sensor_msgs/msg/NavSatFix``; ROS 2 names pass through."""
    if "/" not in name:  # not a ROS type name (e.g. a protobuf or JSON schema title)
        return name
    parts = name.split("/")
    if len(parts) == 3 and parts[1] in ("msg", "srv", "action"):  # already ROS 2 (rosbags would make srv/msg)
        return name
    try:
        return normalize_msgtype(name)
    except Exception:  # rosbags rejects odd names; keep them verbatim for listing
        return name
