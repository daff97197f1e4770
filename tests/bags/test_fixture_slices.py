"""Every fixture bag, sliced whole into its own format and into every other one.

Covers tests/fixtures/bags and the shared set (../shared/fixtures/bags) where it exists; bags whose
bytes are equal are checked once. Into its own format a whole-bag slice must be byte-for-byte the
same message set (per topic: count and payload hashes). Into another format every topic is either
there with all its messages at the same stamps, or named in ``left_out`` with a reason.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pytest

from tests.bags.truth import BAGS, REPO_ROOT, Msg, full_read
from toolkit.bags import BagFormat, detect_format, index, slice_bag
from toolkit.errors import SliceRangeError

ROOTS = [BAGS, REPO_ROOT.parent / "shared" / "fixtures" / "bags"]


def _bags(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    found = []
    for group in sorted(p for p in root.iterdir() if p.is_dir()):
        found += [p for p in sorted(group.iterdir()) if p.is_dir() or p.suffix in (".bag", ".mcap", ".db3")]
    return found


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(path.rglob("*")) if path.is_dir() else [path]:
        if f.is_file():
            h.update(f.relative_to(path).as_posix().encode() if path.is_dir() else b"")
            h.update(f.read_bytes())
    return h.hexdigest()


def _unique_bags() -> list[Path]:
    seen: dict[str, Path] = {}
    for root in ROOTS:
        for bag in _bags(root):
            seen.setdefault(_digest(bag), bag)
    return sorted(seen.values())


FIXTURES = _unique_bags()


def _id(path: Path) -> str:
    root = next(r for r in ROOTS if path.is_relative_to(r))
    return f"{'shared:' if root != BAGS else ''}{path.relative_to(root)}"


def _hashes(msgs: list[Msg]) -> dict[str, Counter[tuple[int, str]]]:
    """topic -> multiset of (timestamp, sha256 of the payload)."""
    out: dict[str, Counter[tuple[int, str]]] = {}
    for m in msgs:
        out.setdefault(m.topic, Counter())[(m.timestamp_ns, hashlib.sha256(m.data).hexdigest())] += 1
    return out


def _own_output(src: Path, tmp: Path) -> Path:
    fmt = detect_format(src)
    if fmt == BagFormat.ROS1:
        return tmp / "whole.bag"
    if fmt == BagFormat.MCAP and src.is_file():
        return tmp / "whole.mcap"
    return tmp / "whole"  # a rosbag2 directory (sqlite3 or MCAP storage)


def test_every_fixture_is_covered() -> None:
    assert len(FIXTURES) >= 15


@pytest.mark.parametrize("src", FIXTURES, ids=_id)
def test_whole_bag_slice_into_its_own_format_is_the_same_message_set(tmp_path: Path, src: Path) -> None:
    truth = full_read(src)
    out = _own_output(src, tmp_path)
    if not truth:
        with pytest.raises(SliceRangeError, match="no messages"):
            slice_bag(src, out)
        assert not out.exists()
        return
    r = slice_bag(src, out)
    assert r.format == index(src, hashes=False).format and not r.left_out and not r.converted
    assert _hashes(full_read(out)) == _hashes(truth)
    assert r.per_topic == dict(Counter(m.topic for m in truth))


@pytest.mark.parametrize("fmt", ["ros1", "ros2", "mcap"])
@pytest.mark.parametrize("src", [b for b in FIXTURES if full_read(b)], ids=_id)
def test_whole_bag_slice_into_each_format_keeps_every_topic_or_names_it(tmp_path: Path, src: Path, fmt: str) -> None:
    truth = full_read(src)
    out = tmp_path / {"ros1": "whole.bag", "ros2": "whole", "mcap": "whole.mcap"}[fmt]
    try:
        r = slice_bag(src, out, fmt=fmt)
    except Exception as exc:  # refused whole: one line naming every topic
        topics = {m.topic for m in truth}
        assert "no selected topic can be written" in str(exc) and all(t in str(exc) for t in topics), exc
        assert "\n" not in str(exc) and not out.exists()
        return
    written = {m.topic for m in full_read(out)}
    source_topics = {m.topic for m in truth}
    assert written | set(r.left_out) == source_topics and all(r.left_out.values())
    assert all("other types are kept" in r.left_out[t] for t in written & set(r.left_out))
    whole = written - set(r.left_out)
    want = {t: Counter(m.timestamp_ns for m in truth if m.topic == t) for t in whole}
    got = {t: Counter(m.timestamp_ns for m in full_read(out) if m.topic == t) for t in whole}
    assert got == want
    same_bytes = not r.converted
    if same_bytes:
        kept = [m for m in truth if m.topic in whole]
        assert {t: h for t, h in _hashes(full_read(out)).items() if t in whole} == _hashes(kept)
