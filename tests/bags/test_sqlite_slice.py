"""sqlite3 -> sqlite3 slices: exact rows in SQL, split into parallel-written files past split_bytes."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml
from rosbags.rosbag2 import Reader, Writer
from rosbags.typesys import Stores, get_typestore

from tests.bags.truth import BAGS, full_read
from toolkit.bags import index, slice_bag
from toolkit.bags.sqlite_slice import MIN_SPLIT_BYTES, parse_split_size
from toolkit.errors import BagError

LIDAR = BAGS / "sensors/velodyne_vlp16_packets"  # one .db3 of real VLP-16 packets, ~750 KB
SPLIT5 = BAGS / "ros2_sqlite3/wbag_split5"  # a source that is itself split in five files


def _triples(path: Path) -> list[tuple[str, int, bytes]]:
    return [(m.topic, m.timestamp_ns, m.data) for m in full_read(path)]


def _metadata(bag: Path) -> dict:
    return yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]


def _middle_half(src: Path) -> tuple[int, int]:
    truth = full_read(src)
    first, last = truth[0].timestamp_ns, truth[-1].timestamp_ns
    return first + (last - first) // 4, first + 3 * (last - first) // 4


def test_large_slice_becomes_a_split_bag_with_exactly_the_range(tmp_path: Path) -> None:
    lo, hi = _middle_half(LIDAR)
    out = tmp_path / "cut"
    result = slice_bag(LIDAR, out, start=lo, end=hi, split_bytes=MIN_SPLIT_BYTES)

    expected = [(m.topic, m.timestamp_ns, m.data) for m in full_read(LIDAR) if lo <= m.timestamp_ns <= hi]
    meta = _metadata(out)
    names = meta["relative_file_paths"]
    assert len(names) > 1
    assert names == [f"cut_{k}.db3" for k in range(len(names))]
    assert sorted(p.name for p in out.glob("*.db3")) == sorted(names)
    assert result.message_count == meta["message_count"] == len(expected)
    assert _triples(out) == expected  # rosbags' Reader, through metadata.yaml
    # Each file holds one time span: the files follow each other without overlap.
    starts = [f["starting_time"]["nanoseconds_since_epoch"] for f in meta["files"]]
    ends = [t + f["duration"]["nanoseconds"] for t, f in zip(starts, meta["files"], strict=True)]
    assert all(end < start for end, start in zip(ends, starts[1:], strict=False))
    assert sum(f["message_count"] for f in meta["files"]) == len(expected)
    summary = index(out, hashes=False)
    assert {t.name: t.count for t in summary.topics} == result.per_topic
    assert (summary.start_ns, summary.end_ns) == (expected[0][1], expected[-1][1])


def test_split_output_is_the_same_bytes_every_time(tmp_path: Path) -> None:
    lo, hi = _middle_half(LIDAR)
    digests = []
    for name in ("a", "b"):
        out = tmp_path / name / "cut"
        out.parent.mkdir()
        slice_bag(LIDAR, out, start=lo, end=hi, split_bytes=MIN_SPLIT_BYTES)
        digests.append({p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(out.iterdir())})
    assert digests[0] == digests[1]


def test_zero_split_bytes_writes_one_file(tmp_path: Path) -> None:
    out = tmp_path / "whole"
    slice_bag(LIDAR, out, split_bytes=0)
    assert [p.name for p in out.glob("*.db3")] == ["whole.db3"]
    assert _triples(out) == _triples(LIDAR)


def test_split_source_into_split_slice(tmp_path: Path) -> None:
    out = tmp_path / "cut"
    result = slice_bag(SPLIT5, out, split_bytes=MIN_SPLIT_BYTES)
    assert result.message_count == len(full_read(SPLIT5))
    assert _triples(out) == _triples(SPLIT5)


def test_parts_share_bytes_not_time(tmp_path: Path) -> None:
    # 10 messages in the first second and 10 in the last of a 100 s bag: equal time spans would leave
    # eight files empty; equal shares of the bytes give every file about two messages.
    store = get_typestore(Stores.ROS2_HUMBLE)
    blob_t = "std_msgs/msg/UInt8MultiArray"
    Blob, Layout = store.types[blob_t], store.types["std_msgs/msg/MultiArrayLayout"]
    src = tmp_path / "gappy"
    with Writer(src, version=Writer.VERSION_LATEST) as w:
        conn = w.add_connection("/blob", blob_t, typestore=store)
        for k in [*range(10), *range(990, 1000)]:
            msg = Blob(
                layout=Layout(dim=[], data_offset=0), data=np.full(MIN_SPLIT_BYTES // 2, k % 256, dtype=np.uint8)
            )
            w.write(conn, k * 100_000_000, bytes(store.serialize_cdr(msg, blob_t)))
    out = tmp_path / "cut"
    result = slice_bag(src, out, split_bytes=MIN_SPLIT_BYTES)
    meta = _metadata(out)
    counts = [f["message_count"] for f in meta["files"]]
    assert meta["relative_file_paths"] == [f"cut_{k}.db3" for k in range(len(counts))]
    assert sum(counts) == result.message_count == 20
    assert min(counts) >= 1 and max(counts) - min(counts) <= 1
    with Reader(out) as r:
        assert [t for _c, t, _d in r.messages()] == [m.timestamp_ns for m in full_read(src)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut", "cut.lineage.json", "gappy"]


@pytest.mark.parametrize(("text", "size"), [("256MiB", 256 << 20), ("1GB", 10**9), ("0", 0), ("65536", 65536)])
def test_parse_split_size(text: str, size: int) -> None:
    assert parse_split_size(text) == size


@pytest.mark.parametrize("text", ["12 parsecs", "1KiB", "-5MB", ""])
def test_bad_split_size_is_one_clear_line(text: str) -> None:
    with pytest.raises(BagError) as err:
        parse_split_size(text)
    assert "\n" not in str(err.value) and "split size" in str(err.value)


def test_too_small_split_is_refused_before_writing(tmp_path: Path) -> None:
    with pytest.raises(BagError, match="at least 64 KiB"):
        slice_bag(LIDAR, tmp_path / "cut", split_bytes=1000)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("in_calling_thread", [False, True], ids=["worker-thread", "calling-thread"])
def test_a_failing_part_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_calling_thread: bool
) -> None:
    # Ctrl-C (or a full disk) while a part is written: the other parts finish, then everything goes.
    from toolkit.bags.writers import Ros2Sink

    real_copy = Ros2Sink.copy_sqlite_rows
    failed = []

    def copy_or_fail(self: Ros2Sink, src: Path, rows: dict[int, object], lo: int, hi: int) -> None:
        if (threading.current_thread() is threading.main_thread()) == in_calling_thread:
            failed.append(lo)
            raise KeyboardInterrupt
        real_copy(self, src, rows, lo, hi)

    monkeypatch.setattr(Ros2Sink, "copy_sqlite_rows", copy_or_fail)
    with pytest.raises(KeyboardInterrupt):
        slice_bag(LIDAR, tmp_path / "cut", split_bytes=MIN_SPLIT_BYTES)
    assert failed
    assert list(tmp_path.iterdir()) == []
