"""The camera classifier's patch extraction reads every bag format alike, ROS 1-profile MCAP included."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from toolkit.bags import slice_bag
from toolkit.experiment.camera import extract_patches

SENSORS = Path(__file__).resolve().parents[1] / "fixtures" / "bags" / "sensors"


@pytest.mark.parametrize(("fmt", "name"), [("mcap", "cams.mcap"), ("ros2", "cams")])
def test_patches_from_a_slice_equal_patches_from_its_ros1_source(tmp_path: Path, fmt: str, name: str) -> None:
    src = SENSORS / "spot_cameras_raw.bag"
    slice_bag(src, tmp_path / name, fmt=fmt)  # mcap keeps ROS 1 serialization; ros2 converts to CDR
    images, labels, frames = extract_patches(src, 32, 64)
    got_images, got_labels, got_frames = extract_patches(tmp_path / name, 32, 64)
    assert len(images) > 0 and got_labels == labels and got_frames == frames
    np.testing.assert_array_equal(got_images, images)
