"""Frame decoding on the real Spot camera and Luminar lidar bags, plus generated odd encodings."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from pypcd4 import PointCloud
from rosbags.highlevel import AnyReader

from tests.datasets import synth
from toolkit.bags import frames as fr

SENSORS = Path(__file__).resolve().parents[1] / "fixtures" / "bags" / "sensors"


def _messages(bag: str) -> list[tuple[str, str, Any]]:
    with AnyReader([SENSORS / bag]) as reader:
        return [(c.topic, c.msgtype, reader.deserialize(raw, c.msgtype)) for c, _, raw in reader.messages()]


def _png(payload: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_UNCHANGED)


def test_compressed_jpeg_and_png_are_written_byte_for_byte() -> None:
    msgs = [m for m in _messages("spot_cameras_compressed.bag") if m[1] == fr.COMPRESSED_IMAGE]
    assert len(msgs) == 4
    for topic, _, msg in msgs:
        data = fr.decode(fr.COMPRESSED_IMAGE, msg)
        assert data.payload == bytes(msg.data), topic
        assert data.suffix == (".png" if "png" in msg.format else ".jpg")
        assert (data.width, data.height) == _png(data.payload).shape[1::-1]


def test_raw_images_decode_to_the_exact_pixels() -> None:
    for topic, msgtype, msg in _messages("spot_cameras_raw.bag"):
        data = fr.decode(msgtype, msg)
        assert data.suffix == ".png" and data.encoding == msg.encoding
        raw = np.frombuffer(bytes(msg.data), np.uint16 if msg.encoding == "16UC1" else np.uint8)
        ch = {"rgb8": 3}.get(msg.encoding, 1)
        expected = raw.reshape(msg.height, msg.step // raw.itemsize)[:, : msg.width * ch]
        expected = expected.reshape(msg.height, msg.width, ch) if ch > 1 else expected
        decoded = _png(data.payload)
        if msg.encoding == "rgb8":
            decoded = decoded[:, :, ::-1]  # OpenCV reads PNG as BGR
        assert np.array_equal(decoded, expected), topic


def test_png_depth_from_compressed_bag_equals_the_raw_bag_depth() -> None:
    """Both bags hold the same frames: the lossless depth must agree to the millimetre."""
    raw = {t: m for t, ty, m in _messages("spot_cameras_raw.bag") if t.startswith("/spot/depth")}
    comp = {t: m for t, ty, m in _messages("spot_cameras_compressed.bag") if t.startswith("/spot/depth")}
    a = _png(fr.decode(fr.IMAGE, raw["/spot/depth/frontleft/image"]).payload)
    b = _png(fr.decode(fr.COMPRESSED_IMAGE, comp["/spot/depth/frontleft/image/compressed"]).payload)
    assert a.dtype == np.uint16 and np.array_equal(a, b) and a.max() > 0


@pytest.mark.parametrize(
    ("encoding", "channels", "dtype", "to_bgr"),
    [
        ("bgr8", 3, np.uint8, lambda a: a),
        ("rgb8", 3, np.uint8, lambda a: a[:, :, ::-1]),
        ("rgba8", 4, np.uint8, lambda a: a[:, :, [2, 1, 0, 3]]),
        ("bgra8", 4, np.uint8, lambda a: a),
        ("mono8", 1, np.uint8, lambda a: a),
        ("mono16", 1, np.uint16, lambda a: a),
        ("16UC1", 1, np.uint16, lambda a: a),
    ],
)
def test_generated_encodings(encoding: str, channels: int, dtype: type, to_bgr: Any) -> None:
    pixels = synth.gradient(6, 5, channels, dtype)
    data = fr.decode(fr.IMAGE, synth.image(synth.T0, pixels, encoding))
    assert np.array_equal(_png(data.payload), to_bgr(pixels))


def test_big_endian_mono16_is_read_in_its_byte_order() -> None:
    pixels = synth.gradient(4, 4, 1, np.uint16, seed=3)
    data = fr.decode(fr.IMAGE, synth.image(synth.T0, pixels, "mono16", bigendian=True))
    assert np.array_equal(_png(data.payload), pixels)


def test_32fc1_depth_becomes_16bit_millimetres() -> None:
    depth = np.array([[0.5, 1.2344], [np.nan, 70.0]], dtype=np.float32)
    data = fr.decode(fr.IMAGE, synth.image(synth.T0, depth, "32FC1"))
    assert data.extra["depth_scale"] == fr.DEPTH_MM_SCALE
    assert _png(data.payload).tolist() == [[500, 1234], [0, 65535]]  # NaN -> 0, beyond 65.535 m clipped


def test_bayer_is_demosaiced_to_colour() -> None:
    mosaic = np.zeros((4, 4), np.uint8)
    mosaic[0::2, 0::2] = 200  # red sites of an RGGB pattern
    out = _png(fr.decode(fr.IMAGE, synth.image(synth.T0, mosaic, "bayer_rggb8")).payload)
    assert out.shape == (4, 4, 3)
    assert out[..., 2].mean() > out[..., 1].mean() and out[..., 2].mean() > out[..., 0].mean()  # mostly red


def test_unsupported_and_malformed_images_are_skips_with_reasons() -> None:
    with pytest.raises(fr.FrameSkip, match="unsupported image encoding"):
        fr.decode(fr.IMAGE, synth.image(synth.T0, synth.gradient(2, 2, 1), "weird42"))
    short = synth.image(synth.T0, synth.gradient(4, 4, 3), "rgb8")
    short.data = short.data[:10]
    with pytest.raises(fr.FrameSkip, match="shorter"):
        fr.decode(fr.IMAGE, short)
    CompressedImage = synth.TS.types["sensor_msgs/msg/CompressedImage"]
    junk = CompressedImage(header=synth._header(synth.T0, "c"), format="jpeg", data=np.frombuffer(b"nope", np.uint8))
    with pytest.raises(fr.FrameSkip, match="unsupported compressed format"):
        fr.decode(fr.COMPRESSED_IMAGE, junk)
    broken = CompressedImage(
        header=synth._header(synth.T0, "c"), format="jpeg", data=np.frombuffer(b"\xff\xd8\xff" + b"\x00" * 20, np.uint8)
    )
    with pytest.raises(fr.FrameSkip, match="corrupt"):
        fr.decode(fr.COMPRESSED_IMAGE, broken)


def test_luminar_pointcloud_to_npy_keeps_every_field_and_point() -> None:
    clouds = [m for t, ty, m in _messages("luminar_pointcloud.bag") if ty == fr.POINTCLOUD2]
    assert len(clouds) == 5
    for msg in clouds:
        data = fr.decode(fr.POINTCLOUD2, msg, "npy")
        arr = np.load(io.BytesIO(data.payload))
        assert arr.shape == (msg.width * msg.height,)
        assert list(arr.dtype.names or ()) == [f.name for f in msg.fields]
        raw = bytes(msg.data)
        for i in (0, len(arr) // 2, len(arr) - 1):  # check against the raw bytes, not our own dtype
            base = i * msg.point_step
            x = np.frombuffer(raw, "<f4", count=1, offset=base)[0]
            laser = np.frombuffer(raw, "<u2", count=1, offset=base + 28)[0]
            assert arr["x"][i] == x and arr["laser_id"][i] == laser


def test_luminar_pointcloud_to_pcd_is_readable_by_pypcd4() -> None:
    msg = next(m for t, ty, m in _messages("luminar_pointcloud.bag") if ty == fr.POINTCLOUD2)
    data = fr.decode(fr.POINTCLOUD2, msg, "pcd")
    cloud = PointCloud.from_fileobj(io.BytesIO(data.payload))
    assert cloud.points == msg.width
    np.testing.assert_array_equal(cloud.numpy(("x",))[:, 0], fr.pointcloud_array(msg)["x"])
    assert set(cloud.fields) == {f.name for f in msg.fields}


@pytest.mark.parametrize(
    ("fields", "step", "data", "reason"),
    [
        ([("x", 0, 7), ("y", 4, 42)], 8, None, "unknown datatype"),
        ([("x", 0, 7), ("y", 8, 7)], 8, None, "beyond point_step"),
        ([("x", 0, 7), ("y", 4, 7)], 8, b"\x00" * 7, "shorter"),
        ([("x", 0, 7), ("x", 4, 7)], 8, None, "duplicate"),
        ([], 8, None, "without fields"),
    ],
)
def test_malformed_pointclouds_are_skips(
    fields: list[tuple[str, int, int]], step: int, data: bytes | None, reason: str
) -> None:
    points = np.zeros(3, dtype=[("x", "<f4"), ("y", "<f4")])
    with pytest.raises(fr.FrameSkip, match=reason):
        fr.decode(fr.POINTCLOUD2, synth.pointcloud(synth.T0, points, fields, step, data))


def test_camera_info_is_read_in_ros2_spelling() -> None:
    info = fr.camera_info_dict(synth.camera_info(synth.T0, 64, 48))
    assert info["width"] == 64 and info["distortion_model"] == "plumb_bob"
    assert info["k"][0] == 500.0 and len(info["p"]) == 12
