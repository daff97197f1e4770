"""Small generated ROS 2 bags for cases the public fixtures lack (CameraInfo, odd encodings, broken clouds).

Written with rosbags' own Writer, so they are real rosbag2 sqlite3 bags.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.rosbag2 import Writer
from rosbags.typesys import Stores, get_typestore

TS = get_typestore(Stores.ROS2_HUMBLE)
T0 = 1_700_000_000_000_000_000


def _header(t: int, frame_id: str) -> Any:
    Header = TS.types["std_msgs/msg/Header"]
    Time = TS.types["builtin_interfaces/msg/Time"]
    return Header(stamp=Time(sec=t // 10**9, nanosec=t % 10**9), frame_id=frame_id)


def image(t: int, pixels: np.ndarray, encoding: str, frame_id: str = "cam", bigendian: bool = False) -> Any:
    Image = TS.types["sensor_msgs/msg/Image"]
    h, w = pixels.shape[:2]
    data = pixels.astype(pixels.dtype.newbyteorder(">" if bigendian else "<")).tobytes()
    return Image(
        header=_header(t, frame_id),
        height=h,
        width=w,
        encoding=encoding,
        is_bigendian=int(bigendian),
        step=len(data) // h,
        data=np.frombuffer(data, np.uint8),
    )


def camera_info(t: int, w: int, h: int, frame_id: str = "cam") -> Any:
    CameraInfo = TS.types["sensor_msgs/msg/CameraInfo"]
    RegionOfInterest = TS.types["sensor_msgs/msg/RegionOfInterest"]
    k = np.array([500.0, 0, w / 2, 0, 500.0, h / 2, 0, 0, 1])
    p = np.array([500.0, 0, w / 2, 0, 0, 500.0, h / 2, 0, 0, 0, 1, 0])
    return CameraInfo(
        header=_header(t, frame_id),
        height=h,
        width=w,
        distortion_model="plumb_bob",
        d=np.array([0.1, -0.05, 0.0, 0.0, 0.0]),
        k=k,
        r=np.eye(3).ravel(),
        p=p,
        binning_x=0,
        binning_y=0,
        roi=RegionOfInterest(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
    )


def pointcloud(
    t: int, points: np.ndarray, fields: list[tuple[str, int, int]], point_step: int, data: bytes | None = None
) -> Any:
    PointCloud2 = TS.types["sensor_msgs/msg/PointCloud2"]
    PointField = TS.types["sensor_msgs/msg/PointField"]
    raw = points.tobytes() if data is None else data
    n = len(points)
    return PointCloud2(
        header=_header(t, "lidar"),
        height=1,
        width=n,
        fields=[PointField(name=name, offset=off, datatype=dt, count=1) for name, off, dt in fields],
        is_bigendian=False,
        point_step=point_step,
        row_step=point_step * n,
        data=np.frombuffer(raw, np.uint8),
        is_dense=True,
    )


def write_bag(path: Path, messages: list[tuple[str, str, int, Any]]) -> Path:
    """messages: (topic, msgtype, timestamp_ns, message), written in the order given."""
    with Writer(path, version=9) as writer:
        conns: dict[str, Any] = {}
        for topic, msgtype, t, msg in messages:
            if topic not in conns:
                conns[topic] = writer.add_connection(topic, msgtype, typestore=TS)
            writer.write(conns[topic], t, TS.serialize_cdr(msg, msgtype))
    return path


def gradient(h: int, w: int, channels: int, dtype: type = np.uint8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max if np.issubdtype(dtype, np.integer) else 1.0
    arr = rng.integers(0, int(top) + 1, size=(h, w, channels) if channels > 1 else (h, w), dtype=np.int64)
    return arr.astype(dtype)


Builder = Callable[[Path], Path]
