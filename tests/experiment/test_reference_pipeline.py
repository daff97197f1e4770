"""The camera-classifier reference pipeline trains a real model on frames from the fixture bags."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from pipelines.camera_classifier.create import DATASETS, create
from tests.experiment.conftest import git, run_cli


def test_camera_classifier_learns_which_camera_took_a_patch(tmp_path: Path) -> None:
    repo = create(tmp_path / "camera-classifier")
    assert git(repo, "status", "--porcelain") == ""
    assert run_cli(repo, "compose", "--check").returncode == 0
    out = run_cli(repo, "run").stdout
    assert out.count("Running stage 'process@") == len(DATASETS) == 2

    labels = [
        label
        for name in DATASETS
        for label in json.loads((repo / "data" / "processed" / name / "labels.json").read_text())
    ]
    counts = Counter(labels)
    assert sorted(counts) == [
        "/spot/camera/frontleft/image",
        "/spot/camera/hand_color/image",
        "/spot/camera/hand_mono/image",
        "/spot/depth/frontleft/image",
    ]
    record = json.loads((repo / "run.json").read_text())
    majority = max(counts.values()) / sum(counts.values())
    # Better than always answering the most frequent camera, on held-out patches.
    assert record["metrics"]["val_acc"] > majority + 0.1, (record["metrics"], majority)
    assert record["training"]["global_step"] == 150
    assert record["hardware"]["accelerator"] in {"cpu", "cuda"}

    # The train output is a model package (predictor interface v1): it tags real frames with their camera.
    from rosbags.highlevel import AnyReader

    from toolkit.datasets.autolabel import load_predictor
    from toolkit.experiment.camera import camera_name, decode_raw

    predictor = load_predictor(repo / "models", "cpu")
    hits = 0
    with AnyReader([DATASETS["spot_raw"]]) as reader:
        images = [c for c in reader.connections if c.msgtype == "sensor_msgs/msg/Image"]
        for connection, _t, raw in reader.messages(connections=images):
            gray = decode_raw(reader.deserialize(raw, connection.msgtype))
            rgb = (gray[:, :, None].repeat(3, axis=2) * 255).astype("uint8")
            (prediction,) = predictor.predict(rgb)
            assert prediction["bbox"] is None and 0.0 < prediction["score"] <= 1.0
            hits += prediction["label"] == camera_name(connection.topic)
    assert hits >= 2, f"only {hits} of 4 frames tagged with their camera"
