"""Camera frames from bags -> labelled grayscale patches (the reference pipeline's process stage).

The label of a patch is the camera it came from (the image topic without a
``/compressed`` suffix), so raw and compressed recordings of the same cameras
share labels. Outputs are plain ``.npy`` files: ``np.save`` is byte-stable,
so an unchanged input yields an unchanged DVC hash and train is not rerun.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

IMAGE_TYPES = {"sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def camera_name(topic: str) -> str:
    return topic.removesuffix("/compressed")


def _normalise(array: np.ndarray) -> np.ndarray:
    array = array.astype(np.float32)
    if array.ndim == 3:
        array = array.mean(axis=2)
    peak = float(array.max()) if array.size else 0.0
    return array / peak if peak > 0 else array


def decode_raw(msg: Any) -> np.ndarray:
    """sensor_msgs/Image -> HxW float32 in [0, 1]."""
    encoding = str(msg.encoding).lower()
    data = bytes(msg.data)
    if encoding in ("mono8", "8uc1"):
        array = np.frombuffer(data, np.uint8).reshape(msg.height, msg.step)[:, : msg.width]
    elif encoding in ("rgb8", "bgr8", "8uc3"):
        array = np.frombuffer(data, np.uint8).reshape(msg.height, msg.step)[:, : msg.width * 3]
        array = array.reshape(msg.height, msg.width, 3)
    elif encoding in ("mono16", "16uc1"):
        dtype = ">u2" if msg.is_bigendian else "<u2"
        array = np.frombuffer(data, dtype).reshape(msg.height, msg.step // 2)[:, : msg.width]
    else:
        raise ValueError(f"unsupported image encoding {msg.encoding!r}")
    return _normalise(array)


def decode_compressed(msg: Any) -> np.ndarray:
    """sensor_msgs/CompressedImage (JPEG/PNG, incl. 16-bit depth PNG) -> HxW float32 in [0, 1]."""
    from PIL import Image

    data = bytes(msg.data)
    # compressedDepth prefixes the PNG with a small header; the PNG itself starts at its magic.
    start = data.find(PNG_MAGIC)
    if start > 0:
        data = data[start:]
    with Image.open(io.BytesIO(data)) as image:
        array = np.array(image)
    return _normalise(array)


def patches(image: np.ndarray, size: int, stride: int) -> np.ndarray:
    rows = range(0, image.shape[0] - size + 1, stride)
    cols = range(0, image.shape[1] - size + 1, stride)
    tiles = [image[r : r + size, c : c + size] for r in rows for c in cols]
    if not tiles:
        return np.zeros((0, 1, size, size), np.float32)
    return np.stack(tiles)[:, None, :, :].astype(np.float32)


def extract_patches(bag: Path, size: int, stride: int) -> tuple[np.ndarray, list[str], dict[str, int]]:
    """All image messages of a bag as patches with camera labels, in bag order; also frames per camera.

    Read like every frame extractor (``toolkit.bags.read.BagReader``: the mcap library for MCAP, so
    ROS 1-profile MCAP slices work too; rosbags' codecs with each topic's own definition).
    """
    import heapq
    from contextlib import ExitStack

    from toolkit.bags.read import BagReader
    from toolkit.bags.types import decode_bytes

    chunks: list[np.ndarray] = []
    labels: list[str] = []
    frames: dict[str, int] = {}
    paths = sorted(bag.iterdir()) if bag.is_dir() and not (bag / "metadata.yaml").exists() else [bag]
    with ExitStack() as stack:
        readers = [stack.enter_context(BagReader(path)) for path in paths]
        streams = [r.messages([c for c in r.connections if c.msgtype in IMAGE_TYPES]) for r in readers]
        for message in heapq.merge(*streams, key=lambda m: m.timestamp_ns):
            msg = decode_bytes(message.connection, message.data)
            image = decode_raw(msg) if message.msgtype.endswith("/Image") else decode_compressed(msg)
            tiles = patches(image, size, stride)
            name = camera_name(message.topic)
            chunks.append(tiles)
            labels.extend([name] * len(tiles))
            frames[name] = frames.get(name, 0) + 1
    images = np.concatenate(chunks) if chunks else np.zeros((0, 1, size, size), np.float32)
    return images, labels, frames


def write_processed(out: Path, images: np.ndarray, labels: list[str], meta: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "images.npy", images)
    (out / "labels.json").write_text(json.dumps(labels) + "\n")
    (out / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def load_processed(directories: list[Path]) -> tuple[np.ndarray, list[str]]:
    images: list[np.ndarray] = []
    labels: list[str] = []
    for directory in directories:
        images.append(np.load(directory / "images.npy"))
        labels.extend(json.loads((directory / "labels.json").read_text()))
    return np.concatenate(images), labels
