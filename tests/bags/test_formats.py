"""detect_format / resolve: magic bytes decide; bad paths fail with one clear line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bags.truth import BAGS, REPO_ROOT
from toolkit.bags import BagFormat, detect_format, index
from toolkit.errors import (
    BagError,
    BagNotFoundError,
    BagPermissionError,
    CorruptBagError,
    UnknownBagFormatError,
)


@pytest.mark.parametrize(
    ("rel", "fmt"),
    [
        ("ros1/turtlesim_example.bag", BagFormat.ROS1),
        ("mcap/bare_multiple_files_0.mcap", BagFormat.MCAP),
        ("mcap/cdr_test", BagFormat.MCAP),
        ("ros2_sqlite3/wbag_split5", BagFormat.ROS2_SQLITE3),
        ("ros2_sqlite3/cdr_test/cdr_test_0.db3", BagFormat.ROS2_SQLITE3),
    ],
)
def test_detect_format(rel: str, fmt: BagFormat) -> None:
    assert detect_format(BAGS / rel) == fmt


def test_renamed_bag_is_recognised_by_magic(tmp_path: Path) -> None:
    renamed = tmp_path / "recording.dat"
    shutil.copy(BAGS / "ros1/fake_sensors_sample.bag", renamed)
    assert detect_format(renamed) == BagFormat.ROS1
    assert index(renamed, hashes=False).message_count == 20


def test_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.bag"
    empty.touch()
    with pytest.raises(BagError, match="file is empty"):
        detect_format(empty)


def test_random_bytes_with_bag_extension_is_corrupt(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bag"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(CorruptBagError, match="not a valid ROS 1 bag"):
        index(junk)


def test_unknown_extension_and_content(tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("hello\n")
    with pytest.raises(UnknownBagFormatError, match="unknown bag format"):
        detect_format(junk)


def test_old_ros1_version_is_refused(tmp_path: Path) -> None:
    old = tmp_path / "old.bag"
    old.write_bytes(b"#ROSBAG V1.2\n" + b"\0" * 100)
    with pytest.raises(UnknownBagFormatError, match=r"version 1\.2"):
        detect_format(old)


def test_missing_path_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(BagNotFoundError, match="no such file") as err:
        index(tmp_path / "missing.bag")
    assert err.value.exit_code == 3


def test_directory_without_storage_files(tmp_path: Path) -> None:
    (tmp_path / "looks_like.bag").mkdir()
    with pytest.raises(UnknownBagFormatError, match="no rosbag2 storage files"):
        index(tmp_path / "looks_like.bag")


def test_path_through_a_file_cannot_be_read(tmp_path: Path) -> None:
    # Tests run as root, where chmod 000 does not deny; a path that walks through a file fails on any uid.
    f = tmp_path / "plain.bag"
    f.write_bytes(b"x")
    with pytest.raises(BagError, match="cannot read"):
        index(f / "inner.bag")


def test_permission_denied_for_another_user(tmp_path: Path) -> None:
    # Real denial: run index as `nobody` via setpriv on a file readable only by root.
    shared = Path(os.environ.get("TMPDIR", "/tmp")) / f"pitlane-perm-{os.getpid()}"
    shared.mkdir(mode=0o755, exist_ok=True)
    try:
        bag = shared / "secret.bag"
        shutil.copy(BAGS / "ros1/fake_sensors_sample.bag", bag)
        bag.chmod(0o000)
        code = (
            "import sys; from toolkit.bags import index; from toolkit.errors import BagPermissionError\n"
            f"try:\n    index({str(bag)!r})\nexcept BagPermissionError as e:\n    print(e.exit_code, e); sys.exit(0)\n"
            "sys.exit(1)"
        )
        env = {"PYTHONPATH": str(REPO_ROOT), "HOME": "/tmp", "PATH": os.environ["PATH"]}
        run = [sys.executable, "-c", code]
        if os.geteuid() == 0:
            run = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *run]
        result = subprocess.run(run, capture_output=True, text=True, env=env, cwd="/", check=False)
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.startswith("4 ") and "permission denied" in result.stdout
    finally:
        shutil.rmtree(shared, ignore_errors=True)
    assert BagPermissionError.exit_code == 4


def test_malformed_metadata_yaml(tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    shutil.copytree(BAGS / "ros2_sqlite3/cdr_test", bag)
    (bag / "metadata.yaml").write_text("rosbag2_bagfile_information: [unclosed\n")
    with pytest.raises(CorruptBagError, match=r"metadata\.yaml does not parse"):
        index(bag)


def test_sqlite_file_that_is_not_a_rosbag(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "other.db3"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE things (id INTEGER)")
    with pytest.raises(CorruptBagError, match="not a rosbag2 sqlite3 file"):
        index(db)


def test_mixed_storage_directory_is_refused(tmp_path: Path) -> None:
    d = tmp_path / "mixed"
    d.mkdir()
    shutil.copy(BAGS / "mcap/bare_multiple_files_0.mcap", d / "a_0.mcap")
    shutil.copy(BAGS / "ros2_sqlite3/cdr_test/cdr_test_0.db3", d / "a_1.db3")
    with pytest.raises(UnknownBagFormatError, match="mixed"):
        index(d)


def test_file_compressed_rosbag2_is_refused_with_a_hint(tmp_path: Path) -> None:
    import zstandard

    d = tmp_path / "compressed"
    d.mkdir()
    raw = (BAGS / "ros2_sqlite3/cdr_test/cdr_test_0.db3").read_bytes()
    (d / "cdr_test_0.db3.zstd").write_bytes(zstandard.compress(raw))
    with pytest.raises(UnknownBagFormatError, match="zstd"):
        index(d)
    with pytest.raises(UnknownBagFormatError, match="decompress"):
        index(d / "cdr_test_0.db3.zstd")
