"""Tags: rosbag2 metadata custom_data and the user's <bag>.pitlane.yaml sidecar."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.bags.truth import BAGS
from toolkit.bags import index
from toolkit.bags.sidecar import sidecar_path
from toolkit.errors import BagError


def test_sidecar_tags_and_notes(tmp_path: Path) -> None:
    bag = tmp_path / "drive.bag"
    shutil.copy(BAGS / "ros1/fake_sensors_sample.bag", bag)
    sidecar_path(bag).write_text(
        "vehicle: odaiba-3\ndriver: kim\nroute: loop-a\nweather: rain\n"
        "tags: {campaign: winter-2025, lap: 3}\nnotes: lidar occluded after 120 s\n"
    )
    s = index(bag, hashes=False)
    assert s.tags == {
        "vehicle": "odaiba-3",
        "driver": "kim",
        "route": "loop-a",
        "weather": "rain",
        "campaign": "winter-2025",
        "lap": "3",
    }
    assert s.notes == "lidar occluded after 120 s"
    assert sidecar_path(bag) == tmp_path / "drive.bag.pitlane.yaml"


def test_rosbag2_custom_data_then_sidecar_overrides(tmp_path: Path) -> None:
    bag = tmp_path / "run"
    shutil.copytree(BAGS / "mcap/cdr_test", bag)
    meta = yaml.safe_load((bag / "metadata.yaml").read_text())
    meta["rosbag2_bagfile_information"]["custom_data"] = {"vehicle": "car-1", "site": "tsukuba"}
    (bag / "metadata.yaml").write_text(yaml.safe_dump(meta))
    assert index(bag, hashes=False).tags == {"vehicle": "car-1", "site": "tsukuba"}
    sidecar_path(bag).write_text("vehicle: car-2\n")
    assert sidecar_path(bag) == tmp_path / "run.pitlane.yaml"
    assert index(bag, hashes=False).tags == {"vehicle": "car-2", "site": "tsukuba"}


def test_sqlite_custom_data(tmp_path: Path) -> None:
    bag = tmp_path / "run"
    shutil.copytree(BAGS / "ros2_sqlite3/cdr_test", bag)
    meta = yaml.safe_load((bag / "metadata.yaml").read_text())
    meta["rosbag2_bagfile_information"]["custom_data"] = {"driver": "ana"}
    (bag / "metadata.yaml").write_text(yaml.safe_dump(meta))
    assert index(bag, hashes=False).tags == {"driver": "ana"}


@pytest.mark.parametrize(
    ("text", "match"),
    [("vehicle: [unclosed\n", "does not parse"), ("- a\n- b\n", "must be a mapping"), ("tags: 5\n", "'tags'")],
)
def test_bad_sidecar_is_one_line_error(tmp_path: Path, text: str, match: str) -> None:
    bag = tmp_path / "drive.bag"
    shutil.copy(BAGS / "ros1/fake_sensors_sample.bag", bag)
    sidecar_path(bag).write_text(text)
    with pytest.raises(BagError, match=match):
        index(bag, hashes=False)
