"""Damaged bags: truncated copies are indexed by a forward scan (and say so) or fail in one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.bags.truth import BAGS, counts_by_topic, full_read, multi_chunk_mcap, multi_chunk_ros1
from toolkit.bags import index, read_messages
from toolkit.bags.summary import BagSummary
from toolkit.errors import CorruptBagError


def _truncated(src: Path, dst: Path, keep: int) -> Path:
    dst.write_bytes(src.read_bytes()[:keep])
    return dst


def _assert_scan(s: BagSummary, truth_counts: dict[str, int]) -> int:
    assert s.indexed_by == "scan"
    recovered = s.message_count
    assert s.warnings[0] == f"indexed by scan: {recovered} messages recovered"
    assert 0 < recovered <= sum(truth_counts.values())
    for t in s.topics:
        assert t.count <= truth_counts.get(t.name, 0)
    return recovered


def _check_recovered(cut: Path, truth_src: Path) -> None:
    truth = full_read(truth_src)
    s = index(cut, hashes=False)
    recovered = _assert_scan(s, counts_by_topic(truth))
    # What a damaged bag yields is real: every recovered message exists, byte for byte, in the original.
    originals = {(m.topic, m.timestamp_ns, m.data) for m in truth}
    got = [(m.topic, m.timestamp_ns, m.data) for m in read_messages(cut)]
    assert len(got) == recovered
    assert set(got) <= originals


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.95])
def test_truncated_ros1_is_indexed_by_scan(tmp_path: Path, fraction: float) -> None:
    # One big uncompressed chunk: the scan parses the cut chunk up to its last complete record.
    src = BAGS / "ros1/turtlesim_example.bag"
    cut = _truncated(src, tmp_path / "cut.bag", int(src.stat().st_size * fraction))
    _check_recovered(cut, src)


@pytest.fixture(scope="module")
def multi_chunk_bags(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("multichunk")
    return {c: multi_chunk_ros1(d / f"{c}.bag", c) for c in ("lz4", "bz2", "none")}


@pytest.mark.parametrize("compression", ["lz4", "bz2", "none"])
@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.9])
def test_truncated_multi_chunk_ros1_is_indexed_by_scan(
    tmp_path: Path, multi_chunk_bags: dict[str, Path], compression: str, fraction: float
) -> None:
    full = multi_chunk_bags[compression]
    assert index(full, hashes=False).compression == compression
    cut = _truncated(full, tmp_path / "cut.bag", int(full.stat().st_size * fraction))
    _check_recovered(cut, full)


def test_lz4_bag_cut_inside_its_only_chunk_fails_in_one_line(tmp_path: Path) -> None:
    # rosbag's lz4 frames use 1 MiB blocks: a cut block cannot be decoded, so nothing is recoverable.
    src = BAGS / "ros1/turtlesim_example-lz4.bag"
    cut = _truncated(src, tmp_path / "cut.bag", int(src.stat().st_size * 0.3))
    with pytest.raises(CorruptBagError, match="no messages recoverable"):
        index(cut)


def test_lz4_bag_cut_after_its_chunk_recovers_all(tmp_path: Path) -> None:
    src = BAGS / "ros1/turtlesim_example-lz4.bag"
    cut = _truncated(src, tmp_path / "cut.bag", int(src.stat().st_size * 0.95))
    s = index(cut, hashes=False)
    assert s.indexed_by == "scan" and s.message_count == len(full_read(src))


def test_truncated_ros1_losing_only_the_index_recovers_everything(tmp_path: Path) -> None:
    from rosbags.rosbag1 import Reader

    src = BAGS / "ros1/turtlesim_example.bag"
    with Reader(src) as r:
        index_pos = max(c.pos for c in r.chunk_infos)  # the last chunk; index records follow it
        last_chunk_end = r.chunks[index_pos].datapos + r.chunks[index_pos].datasize
    # Keep every chunk and its index records but cut the file-end index section.
    raw = src.read_bytes()
    cut = tmp_path / "noindex.bag"
    header_end = raw.index(b"op=\x03") + 4
    cut.write_bytes(raw[: max(last_chunk_end, header_end) + 200])
    s = index(cut, hashes=False)
    assert s.indexed_by == "scan"
    assert s.message_count == len(full_read(src))


def test_ros1_cut_inside_header_fails_in_one_line(tmp_path: Path) -> None:
    cut = _truncated(BAGS / "ros1/turtlesim_example.bag", tmp_path / "cut.bag", 40)
    with pytest.raises(CorruptBagError) as err:
        index(cut)
    assert "\n" not in str(err.value)


def test_ros1_with_no_recoverable_message(tmp_path: Path) -> None:
    # Header record intact (4 KiB padding) but nothing after it.
    cut = _truncated(BAGS / "ros1/turtlesim_example.bag", tmp_path / "cut.bag", 4200)
    with pytest.raises(CorruptBagError, match="no messages recoverable"):
        index(cut)


@pytest.mark.parametrize("fraction", [0.25, 0.7, 0.99])
def test_truncated_mcap_is_indexed_by_scan(tmp_path: Path, fraction: float) -> None:
    full = multi_chunk_mcap(tmp_path / "full.mcap")
    truth = full_read(full)
    assert index(full, hashes=False).indexed_by == "index"
    cut = _truncated(full, tmp_path / "cut.mcap", int(full.stat().st_size * fraction))
    s = index(cut, hashes=False)
    recovered = _assert_scan(s, counts_by_topic(truth))
    originals = {(m.topic, m.timestamp_ns, m.data) for m in truth}
    got = [(m.topic, m.timestamp_ns, m.data) for m in read_messages(cut)]
    assert len(got) == recovered
    assert set(got) <= originals


def test_mcap_cut_inside_its_only_chunk_fails_in_one_line(tmp_path: Path) -> None:
    src = BAGS / "mcap/bare_multiple_files_0.mcap"
    cut = _truncated(src, tmp_path / "cut.mcap", 5000)  # its one zstd chunk spans bytes 45..10438
    with pytest.raises(CorruptBagError, match="no messages recoverable"):
        index(cut)


def test_mcap_random_tail_is_scanned(tmp_path: Path) -> None:
    full = multi_chunk_mcap(tmp_path / "full.mcap")
    raw = full.read_bytes()
    damaged = tmp_path / "tail.mcap"
    damaged.write_bytes(raw[: len(raw) // 2] + b"\x07" * 5000)
    s = index(damaged, hashes=False)
    assert s.indexed_by == "scan" and s.message_count > 0


def test_rosbag2_directory_with_truncated_mcap(tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    bag.mkdir()
    multi_chunk_mcap(tmp_path / "full.mcap")
    _truncated(tmp_path / "full.mcap", bag / "bag_0.mcap", (tmp_path / "full.mcap").stat().st_size // 2)
    s = index(bag, hashes=False)
    assert s.indexed_by == "scan"
    assert s.warnings[0].startswith("indexed by scan:")


def test_damaged_sqlite_fails_in_one_line(tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    shutil.copytree(BAGS / "ros2_sqlite3/wbag_split5", bag)
    db = bag / "wbag_2.db3"
    raw = bytearray(db.read_bytes())
    raw[4096:12288] = b"\xa5" * 8192  # smash b-tree pages
    db.write_bytes(bytes(raw))
    with pytest.raises(CorruptBagError) as err:
        index(bag)
    assert "wbag_2.db3" in str(err.value) and "\n" not in str(err.value)
