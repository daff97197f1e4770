"""`dataset create` on the real bags: counts, timestamps, files, splits, DVC, tags, skips, bad input."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest
from rosbags.highlevel import AnyReader
from typer.testing import CliRunner

from tests.datasets import synth
from tests.datasets.conftest import COMPRESSED, LIDAR, RAW, SENSORS, show, tag_message
from toolkit.bags import frames as fr
from toolkit.cli.main import app
from toolkit.datasets import manifest as mf
from toolkit.datasets import versions as vs
from toolkit.datasets.create import create_dataset
from toolkit.datasets.extract import parse_every, split_for
from toolkit.errors import BagError, ConflictError, DatasetError, UserError

runner = CliRunner()


def _truth(bags: list[Path]) -> dict[str, list[int]]:
    """Bag timestamps of every frame-type message, read independently with rosbags."""
    out: dict[str, list[int]] = defaultdict(list)
    for bag in bags:
        with AnyReader([bag]) as reader:
            conns = [c for c in reader.connections if c.msgtype in fr.FRAME_TYPES]
            for conn, t, _ in reader.messages(connections=conns):
                out[conn.topic].append(t)
    return {k: sorted(v) for k, v in out.items()}


def test_create_matches_the_source_bags(repo: Path) -> None:
    bags = [COMPRESSED, RAW, LIDAR]
    manifest, info, directory = create_dataset("mixed", bags, repo=repo, workers=2)
    got: dict[str, list[int]] = defaultdict(list)
    for f in manifest.frames:
        got[f.topic].append(f.timestamp_ns)
        assert (directory / f.path).is_file()
    assert {k: sorted(v) for k, v in got.items()} == _truth(bags)
    assert len(manifest.frames) == 13 and not manifest.skipped
    # every frame knows its source bag by content hash and gets its bag's split
    md5s = {str(b): hashlib.md5(b.read_bytes()).hexdigest() for b in bags}
    for f in manifest.frames:
        assert f.source_md5 == md5s[f.source_bag] and f.split == split_for(f.source_md5)
    clouds = [f for f in manifest.frames if f.kind == "pointcloud"]
    assert len(clouds) == 5 and all(f.path.endswith(".npy") for f in clouds)
    assert np.load(directory / clouds[0].path).shape == (clouds[0].extra["points"],)
    jpeg = next(f for f in manifest.frames if f.topic == "/spot/camera/hand_color/image/compressed")
    assert (jpeg.width, jpeg.height, jpeg.frame_id) == (640, 480, "gripper_color_camera_z_forward")
    assert jpeg.header_stamp_ns == 1648052479 * 10**9 + 616566426
    # versioned: frames/ in DVC, manifest in Git, annotated tag whose message is the manifest digest
    assert info.tag == "mixed@v1" and (directory / "frames.dvc").is_file()
    committed = show(repo, f"{info.tag}:datasets/mixed/manifest.json")
    assert tag_message(repo, "mixed@v1").splitlines()[0] == "sha256:" + hashlib.sha256(committed).hexdigest()
    assert "frames" in (directory / ".gitignore").read_text()
    assert (
        subprocess.run(
            ["git", "status", "--porcelain", "datasets"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout
        == ""
    )


def test_every_keeps_one_frame_per_interval(repo: Path) -> None:
    stamps = _truth([LIDAR])["/luminar_pointcloud"]
    every = parse_every("150ms")
    expected, last = [], None
    for t in stamps:
        if last is None or t - last >= every:
            expected.append(t)
            last = t
    manifest, _, _ = create_dataset(
        "lidar", [LIDAR], repo=repo, every="150ms", topics=["/luminar*"], lidar_format="pcd"
    )
    assert [f.timestamp_ns for f in manifest.frames] == expected
    assert 1 < len(expected) < len(stamps)
    assert all(f.path.endswith(".pcd") for f in manifest.frames)


def test_topic_globs_select_topics(repo: Path) -> None:
    manifest, _, _ = create_dataset("depth", [COMPRESSED, RAW], repo=repo, topics=["/spot/depth/*"])
    assert {f.topic for f in manifest.frames} == {
        "/spot/depth/frontleft/image",
        "/spot/depth/frontleft/image/compressed",
    }


def test_calibration_and_skips_on_a_generated_bag(repo: Path, tmp_path: Path) -> None:
    good = synth.gradient(48, 64, 3)
    points = np.zeros(4, dtype=[("x", "<f4"), ("y", "<f4")])
    bag = synth.write_bag(
        tmp_path / "gen",
        [
            ("/cam/camera_info", "sensor_msgs/msg/CameraInfo", synth.T0, synth.camera_info(synth.T0, 64, 48)),
            ("/cam/image_raw", "sensor_msgs/msg/Image", synth.T0 + 1, synth.image(synth.T0 + 1, good, "rgb8")),
            ("/cam/image_raw", "sensor_msgs/msg/Image", synth.T0 + 2, synth.image(synth.T0 + 2, good[..., 0], "xyz9")),
            ("/cam/image_raw", "sensor_msgs/msg/Image", synth.T0 + 3, synth.image(synth.T0 + 3, good[..., 0], "xyz9")),
            (
                "/lidar/points",
                "sensor_msgs/msg/PointCloud2",
                synth.T0 + 4,
                synth.pointcloud(synth.T0 + 4, points, [("x", 0, 7), ("y", 4, 99)], 8),
            ),
            (
                "/lidar/points",
                "sensor_msgs/msg/PointCloud2",
                synth.T0 + 5,
                synth.pointcloud(synth.T0 + 5, points, [("x", 0, 7), ("y", 4, 7)], 8),
            ),
        ],
    )
    manifest, _, directory = create_dataset("gen", [bag], repo=repo)
    assert len(manifest.frames) == 2
    cam = next(f for f in manifest.frames if f.topic == "/cam/image_raw")
    assert cam.calibration is not None and cam.calibration.topic == "/cam/camera_info"
    assert cam.calibration.k[0] == 500.0 and cam.calibration.distortion_model == "plumb_bob"
    assert np.array_equal(cv2.imread(str(directory / cam.path))[:, :, ::-1], good)
    skipped = {(s.topic, s.reason): s.count for s in manifest.skipped}
    assert skipped == {
        ("/cam/image_raw", "unsupported image encoding xyz9"): 2,
        ("/lidar/points", "point field 'y' has unknown datatype 99"): 1,
    }


def test_split_is_by_bag_and_deterministic() -> None:
    ratios = (0.5, 0.25, 0.25)
    counts = defaultdict(int)
    for i in range(400):
        s = split_for(f"{i:032x}", ratios)
        assert s == split_for(f"{i:032x}", ratios)
        counts[s] += 1
    assert 150 < counts["train"] < 250 and 60 < counts["val"] < 140 and 60 < counts["test"] < 140


def test_bad_input_is_one_clear_error_and_leaves_nothing(repo: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.bag"
    junk.write_bytes(b"#ROSBAG V2.0\n" + b"\x00" * 64)
    with pytest.raises(BagError, match=r"junk\.bag"):
        create_dataset("junk", [junk], repo=repo)
    assert not (repo / "datasets" / "junk").exists() and not vs.list_versions(repo)
    with pytest.raises(BagError, match="bag not found"):
        create_dataset("nope", [tmp_path / "missing.bag"], repo=repo)
    with pytest.raises(DatasetError, match="no camera or lidar topic matches"):
        create_dataset("none", [COMPRESSED], repo=repo, topics=["/nothing/*"])
    with pytest.raises(UserError, match="dataset name"):
        create_dataset("Bad Name", [COMPRESSED], repo=repo)
    with pytest.raises(UserError, match="--every"):
        create_dataset("x", [COMPRESSED], repo=repo, every="soon")
    outside = tmp_path / "plain"
    outside.mkdir()
    with pytest.raises(DatasetError, match="not inside a Git repository"):
        create_dataset("x", [COMPRESSED], repo=outside)
    create_dataset("once", [COMPRESSED], repo=repo)
    with pytest.raises(ConflictError, match="already exists"):
        create_dataset("once", [COMPRESSED], repo=repo)


def test_cli_create_list_show_stats_json(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    r = runner.invoke(
        app,
        [
            "dataset",
            "create",
            "cams",
            "--from",
            str(COMPRESSED),
            str(RAW),
            "--every",
            "0.5s",
            "--labels",
            "car,person",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    created = json.loads(r.stdout)
    assert created["tag"] == "cams@v1" and created["frames"] == 8
    listed = json.loads(runner.invoke(app, ["dataset", "list", "--json"]).stdout)
    assert [(d["name"], d["latest"], d["frames"]) for d in listed] == [("cams", "cams@v1", 8)]
    shown = json.loads(runner.invoke(app, ["dataset", "show", "cams@v1", "--json"]).stdout)
    assert shown["classes"] == ["car", "person"] and len(shown["frames"]) == 8
    assert shown["versions"][0]["digest"] == created["digest"]
    stats = json.loads(runner.invoke(app, ["dataset", "stats", "cams", "--json"]).stdout)
    assert stats["images"] == 8 and sum(stats["splits"].values()) == 8
    assert sum(s["frames"] for s in stats["sources"]) == 8


def test_cli_errors_are_one_line(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    r = runner.invoke(app, ["dataset", "create", "x", "--from", str(repo / "missing.bag")])
    assert r.exit_code == 1 and r.stderr.strip().count("\n") == 0 and r.stderr.startswith("error: bag not found")
    r = runner.invoke(app, ["dataset", "show", "ghost"])
    assert r.exit_code == 3 and "not found" in r.stderr
    r = runner.invoke(app, ["dataset", "create", "x"])
    assert r.exit_code == 2 and "--from" in r.stderr


def test_from_search_uses_the_data_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from toolkit.data.api import add_bags, init_repo

    data = init_repo(tmp_path / "data")
    add_bags(data, [COMPRESSED, LIDAR], copy=True)
    data.close()
    monkeypatch.chdir(data.root)
    r = runner.invoke(
        app, ["dataset", "create", "found", "--from-search", "type:sensor_msgs/msg/PointCloud2", "--json"]
    )
    assert r.exit_code == 0, r.output
    manifest = mf.read(data.root / "datasets" / "found")
    assert {f.topic for f in manifest.frames} == {"/luminar_pointcloud"} and len(manifest.frames) == 5
    r = runner.invoke(app, ["dataset", "create", "none", "--from-search", "topic:/nothing"])
    assert r.exit_code == 1 and "matched no bags" in r.stderr


def test_bags_without_frames_or_type_definitions_contribute_nothing(repo: Path) -> None:
    """A rosbag2 bag without message definitions (unknown velodyne_msgs) is read, not rejected."""
    velodyne = SENSORS / "velodyne_vlp16_packets"
    manifest, _, _ = create_dataset("mixed", [COMPRESSED, velodyne], repo=repo, workers=1)
    assert len(manifest.frames) == 4 and {f.source_bag for f in manifest.frames} == {str(COMPRESSED)}
    assert [(s.path, s.frames) for s in manifest.sources] == [(str(COMPRESSED), 4), (str(velodyne), 0)]


def test_the_same_bag_twice_is_rejected(repo: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy.bag"
    shutil.copy2(COMPRESSED, copy)
    with pytest.raises(DatasetError, match="hold the same data"):
        create_dataset("twice", [COMPRESSED, copy], repo=repo, workers=1)
    assert not (repo / "datasets" / "twice").exists()
