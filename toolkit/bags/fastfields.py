"""Read the few fields signals need straight from ROS 1 / CDR bytes of the standard motion types.

A full deserialization builds every field (covariance arrays included) and costs tens of
microseconds per message; these readers unpack the handful of doubles at offsets that follow
from the standard layouts, a few microseconds. ``toolkit.bags.signals`` checks each
connection's first message against rosbags' decoder and falls back to it on any difference
(a non-standard definition under a standard name), on XCDR2 payloads and on any error.

Every reader returns ``(header_stamp_ns | None, values...)`` with the values of ``FIELDS``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

FastReader = Callable[[bytes], tuple[float | int | None, ...]]

_CDR_KINDS = {b"\x00\x00": ">", b"\x00\x01": "<"}  # plain CDR (XCDR1), big / little endian


class _Cursor:
    """Offsets into one message; CDR aligns to the field size relative to the payload after its 4-byte header."""

    def __init__(self, data: bytes, cdr: bool) -> None:
        self.data = data
        self.cdr = cdr
        if cdr:
            end = _CDR_KINDS.get(bytes(data[:2]))
            if end is None:
                raise ValueError("not plain CDR")
            self.e, self.base, self.pos = end, 4, 4
        else:
            self.e, self.base, self.pos = "<", 0, 0

    def align(self, n: int) -> None:
        if self.cdr:
            self.pos += (-(self.pos - self.base)) % n

    def skip(self, n: int) -> None:
        self.pos += n

    def u32(self) -> int:
        self.align(4)
        (v,) = struct.unpack_from(self.e + "I", self.data, self.pos)
        self.pos += 4
        return int(v)

    def i32(self) -> int:
        self.align(4)
        (v,) = struct.unpack_from(self.e + "i", self.data, self.pos)
        self.pos += 4
        return int(v)

    def f64s(self, n: int) -> tuple[float, ...]:
        self.align(8)
        vals: tuple[float, ...] = struct.unpack_from(f"{self.e}{n}d", self.data, self.pos)
        self.pos += 8 * n
        return vals

    def skip_f64(self, n: int) -> None:
        self.align(8)
        self.pos += 8 * n

    def string(self) -> None:
        n = self.u32()
        self.pos += n

    def header(self) -> int:
        if not self.cdr:
            self.u32()  # seq
            sec, nsec = self.u32(), self.u32()
        else:
            sec, nsec = self.i32(), self.u32()
        self.string()  # frame_id
        return sec * 1_000_000_000 + nsec


def _imu(c: _Cursor) -> tuple[float | int | None, ...]:
    stamp = c.header()
    c.skip_f64(4 + 9 + 2)  # orientation, its covariance, angular x and y
    (wz,) = c.f64s(1)
    c.skip_f64(9)
    (ax,) = c.f64s(1)
    return stamp, ax, wz


def _odometry(c: _Cursor) -> tuple[float | int | None, ...]:
    stamp = c.header()
    c.string()  # child_frame_id
    c.skip_f64(7 + 36)  # pose, its covariance
    vx, vy, _vz, _wx, _wy, wz = c.f64s(6)
    return stamp, vx, vy, wz


def _twist_stamped(c: _Cursor) -> tuple[float | int | None, ...]:
    stamp = c.header()
    vx, vy, _vz, _wx, _wy, wz = c.f64s(6)
    return stamp, vx, vy, wz


def _twist(c: _Cursor) -> tuple[float | int | None, ...]:
    vx, vy, _vz, _wx, _wy, wz = c.f64s(6)
    return None, vx, vy, wz


def _navsatfix(c: _Cursor) -> tuple[float | int | None, ...]:
    stamp = c.header()
    (status,) = struct.unpack_from("b", c.data, c.pos)
    c.skip(1)
    c.align(2)
    c.skip(2)  # service
    lat, lon = c.f64s(2)[:2]
    return stamp, lat, lon, int(status)


_READERS: dict[str, Callable[[_Cursor], tuple[float | int | None, ...]]] = {
    "sensor_msgs/msg/Imu": _imu,
    "nav_msgs/msg/Odometry": _odometry,
    "geometry_msgs/msg/TwistStamped": _twist_stamped,
    "geometry_msgs/msg/TwistWithCovarianceStamped": _twist_stamped,  # twist first, covariance after
    "geometry_msgs/msg/Twist": _twist,
    "sensor_msgs/msg/NavSatFix": _navsatfix,
}

# What each reader's values are, after the header stamp.
FIELDS = {
    "sensor_msgs/msg/Imu": ("linear_acceleration.x", "angular_velocity.z"),
    "nav_msgs/msg/Odometry": ("twist.twist.linear.x", "twist.twist.linear.y", "twist.twist.angular.z"),
    "geometry_msgs/msg/TwistStamped": ("twist.linear.x", "twist.linear.y", "twist.angular.z"),
    "geometry_msgs/msg/TwistWithCovarianceStamped": (
        "twist.twist.linear.x",
        "twist.twist.linear.y",
        "twist.twist.angular.z",
    ),
    "geometry_msgs/msg/Twist": ("linear.x", "linear.y", "angular.z"),
    "sensor_msgs/msg/NavSatFix": ("latitude", "longitude", "status.status"),
}


def fast_reader(msgtype: str, encoding: str) -> FastReader | None:
    """The direct reader of `msgtype` in `encoding` ("ros1" or "cdr"), or None when there is none."""
    read = _READERS.get(msgtype)
    if read is None or encoding not in ("ros1", "cdr"):
        return None
    cdr = encoding == "cdr"
    return lambda data: read(_Cursor(data, cdr))


def fields_of(msg: object, msgtype: str) -> tuple[float | int | None, ...]:
    """The same tuple, from a message deserialized by rosbags (the reference for the check)."""
    header = getattr(msg, "header", None)
    stamp = None if header is None else int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)
    values: list[float | int] = []
    for path in FIELDS[msgtype]:
        v: Any = msg
        for part in path.split("."):
            v = getattr(v, part)
        values.append(int(v) if path == "status.status" else float(v))
    return (stamp, *values)
