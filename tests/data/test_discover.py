"""Which paths are bags, in folders as users have them (real fixture bags, copied into shapes)."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import BAGS
from toolkit.data.discover import find_bags, is_rosbag2_dir

SPLIT = BAGS / "ros2_sqlite3" / "wbag_split5"


def test_a_directory_with_metadata_yaml_is_one_bag(tmp_path: Path) -> None:
    bag = shutil.copytree(BAGS / "ros2_sqlite3" / "cdr_test", tmp_path / "cdr_test")
    assert is_rosbag2_dir(bag)
    assert find_bags([tmp_path]) == [bag]


def test_numbered_parts_of_one_recording_are_one_bag_without_metadata(tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    rec.mkdir()
    for part in SPLIT.glob("wbag_*.db3"):
        shutil.copy2(part, rec / part.name)
    assert is_rosbag2_dir(rec)
    assert find_bags([tmp_path]) == [rec]
    assert find_bags([rec]) == [rec]


def test_loose_storage_files_beside_others_are_one_bag_each(tmp_path: Path) -> None:
    usb = tmp_path / "usb"
    usb.mkdir()
    shutil.copy2(SPLIT / "wbag_2.db3", usb / "bare_topics_and_services.db3")
    shutil.copy2(BAGS / "mcap" / "only_topics.mcap", usb)
    shutil.copy2(BAGS / "mcap" / "bare_multiple_files_0.mcap", usb)
    shutil.copy2(BAGS / "ros1" / "no-messages.bag", usb)
    assert not is_rosbag2_dir(usb)
    assert [p.name for p in find_bags([usb])] == [
        "bare_multiple_files_0.mcap",
        "bare_topics_and_services.db3",
        "no-messages.bag",
        "only_topics.mcap",
    ]


def test_parts_of_two_recordings_or_two_formats_are_not_one_bag(tmp_path: Path) -> None:
    two = tmp_path / "two"
    two.mkdir()
    shutil.copy2(SPLIT / "wbag_0.db3", two / "a_0.db3")
    shutil.copy2(SPLIT / "wbag_1.db3", two / "b_0.db3")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    shutil.copy2(SPLIT / "wbag_0.db3", mixed / "run_0.db3")
    shutil.copy2(BAGS / "mcap" / "bare_multiple_files_0.mcap", mixed / "run_1.mcap")
    assert not is_rosbag2_dir(two) and not is_rosbag2_dir(mixed)
    assert [p.relative_to(tmp_path).as_posix() for p in find_bags([tmp_path])] == [
        "mixed/run_0.db3",
        "mixed/run_1.mcap",
        "two/a_0.db3",
        "two/b_0.db3",
    ]


def test_a_folder_without_bag_files_is_searched_not_taken(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("drive notes")
    assert not is_rosbag2_dir(tmp_path)
    assert find_bags([tmp_path]) == []
