"""Decode camera and lidar messages into files: PNG/JPEG images, .npy/.pcd point clouds.

Raw ``sensor_msgs/Image`` goes through rosbags-image (OpenCV) so that every ROS
encoding it knows (rgb/bgr/rgba/bgra, mono8/16, bayer, yuv, ``16UC1``...)
decodes the same way ``cv_bridge`` would; PNG encoding is OpenCV's (lossless,
fast). ``CompressedImage`` JPEG/PNG payloads are written byte for byte: no
re-encoding, no generation loss. PointCloud2 becomes a numpy structured array
built from its PointField list (padding kept, so ``np.load`` shows the fields).

A message that cannot be decoded raises :class:`FrameSkip` with a short,
stable reason: extraction counts those per reason instead of failing.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
POINTCLOUD2 = "sensor_msgs/msg/PointCloud2"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
FRAME_TYPES = frozenset({IMAGE, COMPRESSED_IMAGE, POINTCLOUD2})

LidarFormat = Literal["npy", "pcd"]

# 32FC1 depth (metres) is stored as 16-bit PNG in millimetres, the convention of
# 16UC1 depth cameras; frames record the scale so consumers can undo it.
DEPTH_MM_SCALE = 0.001

_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# PointField datatypes (sensor_msgs/PointField constants) -> numpy kinds.
_POINTFIELD_DTYPES: dict[int, str] = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 8: "f8"}


class FrameSkip(Exception):
    """This message yields no frame; ``reason`` is short and stable so skips can be counted."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass
class FrameData:
    kind: Literal["image", "pointcloud"]
    suffix: str  # ".png", ".jpg", ".npy", ".pcd"
    payload: bytes
    width: int
    height: int
    encoding: str  # the source encoding / format as the message declared it
    extra: dict[str, Any] = field(default_factory=dict)


def decode(msgtype: str, msg: Any, lidar_format: LidarFormat = "npy") -> FrameData:
    """Turn one deserialized message of a frame type into file bytes."""
    if msgtype == IMAGE:
        return decode_image(msg)
    if msgtype == COMPRESSED_IMAGE:
        return decode_compressed_image(msg)
    if msgtype == POINTCLOUD2:
        return decode_pointcloud(msg, lidar_format)
    raise FrameSkip(f"not a frame type: {msgtype}")


# --- raw images ---------------------------------------------------------------
def image_array(msg: Any) -> tuple[np.ndarray, dict[str, Any]]:
    """The pixels of a sensor_msgs/Image as OpenCV would hold them (BGR/BGRA order for colour)."""
    from rosbags.image import ImageError, image_to_cvimage

    encoding = str(msg.encoding)
    if not encoding:
        raise FrameSkip("image without encoding")
    expected = int(msg.height) * int(msg.step)
    if msg.height == 0 or msg.width == 0 or len(msg.data) < expected:
        raise FrameSkip("image data shorter than height*step")
    extra: dict[str, Any] = {}
    lower = encoding.lower()
    try:
        if lower in {"32fc1", "64fc1"}:
            depth = np.asarray(image_to_cvimage(msg), dtype=np.float64)
            return _depth_to_mm(depth), {"depth_scale": DEPTH_MM_SCALE}
        if lower in {"mono8", "mono16", "8uc1", "16uc1", "8uc3", "8uc4"}:
            # No colour conversion: 8UC3/8UC4 follow OpenCV's BGR(A) convention already.
            return np.asarray(image_to_cvimage(msg)), extra
        target = "bgra8" if ("a" in lower and lower.startswith(("rgba", "bgra"))) else "bgr8"
        if lower.endswith("16") and not lower.startswith("bayer"):
            target = target.replace("8", "16")
        return np.asarray(image_to_cvimage(msg, target)), extra
    except ImageError as exc:
        raise FrameSkip(f"unsupported image encoding {encoding}") from exc
    except ValueError as exc:  # reshape of inconsistent width/height/step
        raise FrameSkip(f"malformed image ({exc.__class__.__name__})") from exc


def decode_image(msg: Any) -> FrameData:
    import cv2

    pixels, extra = image_array(msg)
    ok, buf = cv2.imencode(".png", pixels)
    if not ok:  # pragma: no cover - OpenCV refuses only exotic dtypes, filtered above
        raise FrameSkip(f"cannot encode {msg.encoding} as PNG")
    return FrameData("image", ".png", buf.tobytes(), int(msg.width), int(msg.height), str(msg.encoding), extra)


def _depth_to_mm(depth: np.ndarray) -> np.ndarray:
    mm = np.nan_to_num(depth / DEPTH_MM_SCALE, nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(np.rint(mm), 0, 65535).astype(np.uint16)


# --- compressed images ----------------------------------------------------------
def decode_compressed_image(msg: Any) -> FrameData:
    """JPEG and PNG payloads are kept as they are; compressedDepth headers are stripped."""
    data = bytes(msg.data)
    fmt = str(msg.format)
    extra: dict[str, Any] = {}
    if "compresseddepth" in fmt.lower():
        data, extra = _compressed_depth(data, fmt)
    if data.startswith(_JPEG_MAGIC):
        suffix = ".jpg"
    elif data.startswith(_PNG_MAGIC):
        suffix = ".png"
    else:
        raise FrameSkip(f"unsupported compressed format {fmt.split(';')[-1].strip() or 'unknown'}")
    width, height = _image_size(data)
    return FrameData("image", suffix, data, width, height, fmt, extra)


def _image_size(data: bytes) -> tuple[int, int]:
    """Width and height from the JPEG/PNG header alone (imagesize reads a few markers, no decoding)."""
    import imagesize

    try:
        width, height = imagesize.get(io.BytesIO(data))
    except (ValueError, OSError, struct.error) as exc:
        raise FrameSkip("corrupt compressed image") from exc
    if width <= 0 or height <= 0:
        raise FrameSkip("corrupt compressed image")
    return int(width), int(height)


def _compressed_depth(data: bytes, fmt: str) -> tuple[bytes, dict[str, Any]]:
    """image_transport's compressedDepth: a 12-byte config header, then a PNG.

    16UC1 PNGs are raw millimetres (kept as is); 32FC1 PNGs hold quantized
    inverse depth ``A / (v - B)`` and are converted to 16-bit millimetres.
    """
    import cv2

    if len(data) < 12 or not data[12:].startswith(_PNG_MAGIC):
        if data.startswith(_PNG_MAGIC):
            return data, {}
        raise FrameSkip("compressedDepth without PNG payload")
    png = data[12:]
    if not fmt.lower().startswith("32fc1"):
        return png, {}
    _, quant_a, quant_b = struct.unpack("<iff", data[:12])
    raw = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise FrameSkip("corrupt compressed image")
    values = raw.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = np.where(values > 0, quant_a / (values - quant_b), 0.0)
    ok, buf = cv2.imencode(".png", _depth_to_mm(depth))
    if not ok:  # pragma: no cover
        raise FrameSkip("cannot encode depth as PNG")
    return buf.tobytes(), {"depth_scale": DEPTH_MM_SCALE}


# --- point clouds ----------------------------------------------------------------
def pointcloud_dtype(msg: Any) -> np.dtype[Any]:
    """The structured dtype of one point, from the message's PointField list."""
    endian = ">" if msg.is_bigendian else "<"
    names: list[str] = []
    formats: list[Any] = []
    offsets: list[int] = []
    step = int(msg.point_step)
    for pf in msg.fields:
        kind = _POINTFIELD_DTYPES.get(int(pf.datatype))
        if kind is None:
            raise FrameSkip(f"point field {pf.name!r} has unknown datatype {pf.datatype}")
        count = max(int(pf.count), 1)
        base = np.dtype(endian + kind)
        if pf.offset + base.itemsize * count > step:
            raise FrameSkip("point field beyond point_step")
        if pf.name in names or not pf.name:
            raise FrameSkip("duplicate or empty point field name")
        names.append(str(pf.name))
        formats.append(base if count == 1 else (base, (count,)))
        offsets.append(int(pf.offset))
    if not names:
        raise FrameSkip("point cloud without fields")
    try:
        return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": step})
    except ValueError as exc:  # overlapping fields
        raise FrameSkip("overlapping point fields") from exc


def pointcloud_array(msg: Any) -> np.ndarray:
    """All points as a 1-D structured array (organized clouds are flattened row by row)."""
    dtype = pointcloud_dtype(msg)
    width, height, step, row_step = int(msg.width), int(msg.height), int(msg.point_step), int(msg.row_step)
    data = memoryview(bytes(msg.data)) if not isinstance(msg.data, np.ndarray) else msg.data.tobytes()
    if width * step > row_step or len(data) < row_step * height:
        raise FrameSkip("point cloud data shorter than row_step*height")
    if row_step == width * step:
        return np.frombuffer(data, dtype=dtype, count=width * height).copy()
    rows = [np.frombuffer(data, dtype=dtype, count=width, offset=r * row_step) for r in range(height)]
    return np.concatenate(rows) if rows else np.zeros(0, dtype=dtype)


def decode_pointcloud(msg: Any, lidar_format: LidarFormat = "npy") -> FrameData:
    points = pointcloud_array(msg)
    names = list(points.dtype.names or ())
    extra: dict[str, Any] = {"points": int(points.shape[0]), "fields": names}
    if lidar_format == "pcd":
        return FrameData(
            "pointcloud", ".pcd", pointcloud_to_pcd(points), int(msg.width), int(msg.height), "PointCloud2", extra
        )
    buf = io.BytesIO()
    np.save(buf, _packed(points), allow_pickle=False)
    return FrameData("pointcloud", ".npy", buf.getvalue(), int(msg.width), int(msg.height), "PointCloud2", extra)


def _packed(points: np.ndarray) -> np.ndarray:
    """Drop padding bytes so the saved array holds exactly the declared fields."""
    names = list(points.dtype.names or ())
    packed = np.dtype([(n, points.dtype.fields[n][0]) for n in names])
    out = np.empty(points.shape, dtype=packed)
    for n in names:
        out[n] = points[n]
    return out


def pointcloud_to_pcd(points: np.ndarray) -> bytes:
    """Binary PCD v0.7 through pypcd4 (multi-count fields are written per component)."""
    from pypcd4 import PointCloud

    columns: list[np.ndarray] = []
    fields: list[str] = []
    types: list[type] = []
    for name in points.dtype.names or ():
        sub = points.dtype.fields[name][0]
        col = points[name]
        base = sub.base if sub.subdtype else sub
        native = base.newbyteorder("=")
        if sub.subdtype:
            for i in range(sub.shape[0]):
                columns.append(col[:, i].astype(native))
                fields.append(f"{name}_{i}")
                types.append(native.type)
        else:
            columns.append(col.astype(native))
            fields.append(name)
            types.append(native.type)
    cloud = PointCloud.from_points(columns, tuple(fields), tuple(types))
    buf = io.BytesIO()
    cloud.save(buf)
    return buf.getvalue()


# --- calibration -------------------------------------------------------------------
def camera_info_dict(msg: Any) -> dict[str, Any]:
    """CameraInfo as plain data (ROS 1 spells the matrices D/K/R/P, ROS 2 d/k/r/p)."""

    def arr(name: str) -> list[float]:
        value = getattr(msg, name, None)
        if value is None:
            value = getattr(msg, name.upper(), [])
        return [float(v) for v in value]

    return {
        "frame_id": str(msg.header.frame_id),
        "width": int(msg.width),
        "height": int(msg.height),
        "distortion_model": str(msg.distortion_model),
        "d": arr("d"),
        "k": arr("k"),
        "r": arr("r"),
        "p": arr("p"),
    }
