"""First-frame thumbnails of real camera bags: colour, mono, 16-bit depth, raw and compressed."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageStat

from tests.conftest import BAGS
from toolkit.data.thumbnails import thumbnail_png
from toolkit.errors import BagError

COMPRESSED = BAGS / "sensors" / "spot_cameras_compressed.bag"
RAW = BAGS / "sensors" / "spot_cameras_raw.bag"


@pytest.mark.parametrize(
    ("bag", "topic", "mode"),
    [
        (COMPRESSED, "/spot/camera/hand_color/image/compressed", "RGB"),
        (COMPRESSED, "/spot/camera/frontleft/image/compressed", "L"),
        (COMPRESSED, "/spot/depth/frontleft/image/compressed", "L"),  # compressedDepth PNG, 16 bit
        (RAW, "/spot/camera/hand_color/image", "RGB"),
        (RAW, "/spot/depth/frontleft/image", "L"),  # 16UC1
    ],
)
def test_thumbnail_is_small_8bit_png(bag, topic: str, mode: str) -> None:
    png = thumbnail_png(bag, topic, max_size=160)
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG" and img.mode == mode
    assert max(img.size) == 160
    lo, hi = img.convert("L").getextrema()
    assert hi > lo  # not a blank frame: depth was scaled into the visible range


def test_raw_and_compressed_colour_frames_agree() -> None:
    a = Image.open(io.BytesIO(thumbnail_png(RAW, "/spot/camera/hand_color/image", 64))).convert("RGB")
    b = Image.open(io.BytesIO(thumbnail_png(COMPRESSED, "/spot/camera/hand_color/image/compressed", 64))).convert("RGB")
    assert a.size == b.size
    # Same scene: JPEG loss aside, the mean colour matches (a channel-order bug would swap R and B).
    for c in range(3):
        assert abs(ImageStat.Stat(a).mean[c] - ImageStat.Stat(b).mean[c]) < 8


def test_non_image_topic_is_a_clear_error() -> None:
    with pytest.raises(BagError, match="not camera images"):
        thumbnail_png(BAGS / "sensors" / "husky_gps_imu.bag", "/fix")
