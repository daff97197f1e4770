"""Camera thumbnails: the first frame of an Image/CompressedImage topic as a small 8-bit PNG.

Decoding is the bags part's (``toolkit.bags.frames``: every ROS encoding,
compressedDepth); this module only scales the frame down and maps 16-bit
depth to a visible 8-bit range for the browser.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from toolkit.errors import BagError, NotFoundError

IMAGE_TYPES = frozenset({"sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage"})
DEFAULT_SIZE = 320


def _to_8bit(img: Image.Image) -> Image.Image:
    if img.mode in {"I;16", "I;16B", "I;16L", "I", "F"}:
        arr = np.asarray(img, dtype=np.float64)
        valid = arr[arr > 0]
        hi = float(np.percentile(valid, 99)) if valid.size else 1.0
        scaled = np.clip(arr / max(hi, 1e-9) * 255.0, 0, 255).astype(np.uint8)
        return Image.fromarray(scaled, mode="L")
    if img.mode not in {"L", "RGB", "RGBA"}:
        return img.convert("RGB")
    return img


def thumbnail_png(bag: Path, topic: str, max_size: int = DEFAULT_SIZE) -> bytes:
    """PNG bytes of the first decodable frame on `topic`, at most `max_size` pixels on its long side."""
    from toolkit.bags import read_messages
    from toolkit.bags.frames import FrameSkip, decode
    from toolkit.bags.read import decode as deserialize

    tried = 0
    for message in read_messages(bag, topics=[topic]):
        if message.msgtype not in IMAGE_TYPES:
            raise BagError(f"{topic} carries {message.msgtype}, not camera images")
        tried += 1
        try:
            frame = decode(message.msgtype, deserialize(message))
        except FrameSkip:
            if tried >= 5:  # a topic whose first frames all fail will not get better
                break
            continue
        with Image.open(io.BytesIO(frame.payload)) as img:
            img.load()
            small = _to_8bit(img)
        small.thumbnail((max_size, max_size))
        buf = io.BytesIO()
        small.save(buf, format="PNG", optimize=False)
        return buf.getvalue()
    raise NotFoundError(f"no decodable image on {topic}")
