"""Frames from ROS 1-profile MCAP (our own `--format mcap` slices and files written by others), and the
README tour's slice -> `dataset create --from-search` path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcap.writer import CompressionType, Writer
from typer.testing import CliRunner

from tests.datasets.conftest import COMPRESSED, LIDAR, RAW
from toolkit.bags import index
from toolkit.bags.read import BagReader
from toolkit.bags.timebounds import format_ns
from toolkit.cli.main import app
from toolkit.datasets import manifest as mf
from toolkit.datasets.create import create_dataset

runner = CliRunner()


def _frames(directory: Path, manifest: mf.Manifest) -> dict[tuple[str, int], bytes]:
    """(topic, bag timestamp) -> the frame file's bytes."""
    return {(f.topic, f.timestamp_ns): (directory / f.path).read_bytes() for f in manifest.frames}


def _foreign_ros1_mcap(src: Path, out: Path) -> Path:
    """A ros1-profile MCAP written by the mcap library alone (not by pitlane), lz4 chunks, one message each."""
    with BagReader(src) as reader, out.open("wb") as f:
        w = Writer(f, chunk_size=1, compression=CompressionType.LZ4)
        w.start(profile="ros1", library="someone-else")
        channels: dict[str, int] = {}
        for m in reader.messages():
            if m.topic not in channels:
                sid = w.register_schema(
                    name=m.msgtype.replace("/msg/", "/"), encoding="ros1msg", data=m.connection.msgdef.encode()
                )
                channels[m.topic] = w.register_channel(
                    topic=m.topic, message_encoding="ros1", schema_id=sid, metadata={"md5sum": m.connection.md5sum}
                )
            w.add_message(channels[m.topic], log_time=m.timestamp_ns, publish_time=m.timestamp_ns, data=m.data)
        w.finish()
    return out


@pytest.mark.parametrize("bag", [RAW, COMPRESSED, LIDAR], ids=["raw", "compressed", "lidar"])
def test_ros1_profile_mcap_gives_the_same_frames_as_its_ros1_source(repo: Path, tmp_path: Path, bag: Path) -> None:
    foreign = _foreign_ros1_mcap(bag, tmp_path / "foreign.mcap")
    m1, _, d1 = create_dataset("from-ros1", [bag], repo=repo, workers=1)
    m2, _, d2 = create_dataset("from-mcap", [foreign], repo=repo, workers=1)
    assert not m1.skipped and not m2.skipped
    assert _frames(d2, m2) == _frames(d1, m1) and len(m1.frames) > 0
    for a, b in zip(sorted(m1.frames, key=lambda f: f.path), sorted(m2.frames, key=lambda f: f.path), strict=True):
        assert (a.header_stamp_ns, a.frame_id, a.width, a.height, a.calibration) == (
            b.header_stamp_ns,
            b.frame_id,
            b.width,
            b.height,
            b.calibration,
        )


def test_readme_tour_slice_to_mcap_then_dataset_from_search(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from toolkit.data.api import add_bags, init_repo

    data = init_repo(tmp_path / "drives")
    add_bags(data, [COMPRESSED, RAW], copy=True)
    data.close()
    monkeypatch.chdir(data.root)
    r = runner.invoke(
        app,
        ["data", "slice", "--from-search", "format:ros1", "--topics", "/spot/camera/*", "--format", "mcap",
         "-o", "slices", "--json"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    slices = [Path(s["path"]) for s in json.loads(r.stdout)]
    assert len(slices) == 2 and all(p.suffix == ".mcap" for p in slices)
    r = runner.invoke(app, ["data", "lineage", str(slices[0])])
    source = next(b for b in (COMPRESSED, RAW) if slices[0].name.startswith(b.stem))
    whole = index(source, hashes=False)  # no bounds given: the whole source bag, both ends inclusive
    assert r.exit_code == 0 and "…" not in r.output, r.output
    assert r.output.splitlines()[0].endswith(f"[{format_ns(whole.start_ns)} .. {format_ns(whole.end_ns)}]")

    r = runner.invoke(app, ["dataset", "create", "cams", "--from-search", "format:mcap", "--json"])
    assert r.exit_code == 0, r.output
    cams = mf.read(data.root / "datasets" / "cams")
    direct_args = ["dataset", "create", "direct", "--from-search", "format:ros1", "--topics", "/spot/camera/*"]
    r = runner.invoke(app, direct_args)
    assert r.exit_code == 0, r.output
    direct = mf.read(data.root / "datasets" / "direct")
    assert not cams.skipped and len(cams.frames) == len(direct.frames) == 6
    assert _frames(data.root / "datasets" / "cams", cams) == _frames(data.root / "datasets" / "direct", direct)


@pytest.mark.parametrize("bag", [RAW, COMPRESSED], ids=["raw", "compressed"])
def test_bag_page_thumbnails_of_a_ros1_profile_mcap_match_its_ros1_source(tmp_path: Path, bag: Path) -> None:
    from toolkit.data.thumbnails import thumbnail_png

    foreign = _foreign_ros1_mcap(bag, tmp_path / "foreign.mcap")
    topics = [t.name for t in index(bag, hashes=False).topics]
    assert topics and [t.name for t in index(foreign, hashes=False).topics] == topics
    for topic in topics:
        assert thumbnail_png(foreign, topic) == thumbnail_png(bag, topic)


@pytest.mark.parametrize(("fmt", "suffix"), [("ros2", ""), ("mcap", ".mcap")], ids=["ros2-sqlite3", "mcap-file"])
def test_slices_in_other_formats_give_the_same_frames(repo: Path, tmp_path: Path, fmt: str, suffix: str) -> None:
    from toolkit.bags import slice_bag

    sources = [RAW, COMPRESSED, LIDAR]
    slices = []
    for bag in sources:
        out = tmp_path / f"{bag.stem}{suffix}"
        slice_bag(bag, out, fmt=fmt)  # ros2: converted to CDR; mcap: ROS 1 bytes kept
        slices.append(out)
    m1, _, d1 = create_dataset("sources", sources, repo=repo, workers=1)
    m2, _, d2 = create_dataset("slices", slices, repo=repo, workers=1)
    assert not m2.skipped and len(m2.frames) == len(m1.frames) == 13
    assert _frames(d2, m2) == _frames(d1, m1)
