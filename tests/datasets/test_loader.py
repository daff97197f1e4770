"""Reading a dataset split for training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from toolkit.datasets import manifest as mf
from toolkit.datasets.loader import FrameDataset, frames_of, read_image
from toolkit.errors import DatasetError


def test_frame_dataset_yields_tensors_and_labels(spot: tuple[Path, mf.Manifest]) -> None:
    repo, manifest = spot
    directory = repo / "datasets" / "spot"
    labelled = manifest.model_copy(deep=True)
    color = next(f for f in labelled.frames if "hand_color" in f.path and f.path.endswith(".png"))
    color.labels = [mf.Label(label="car", bbox=mf.BBox(x=1, y=2, w=3, h=4))]
    mf.write(labelled, directory)
    splits = {f.split for f in manifest.frames}
    total = sum(len(FrameDataset(directory, s)) for s in splits)
    assert total == len(FrameDataset(directory)) == 8
    ds = FrameDataset(directory, color.split)
    item = ds[next(i for i, f in enumerate(ds.frames) if f.id == color.id)]
    assert item["image"].dtype == torch.uint8 and tuple(item["image"].shape) == (3, 480, 640)
    assert item["labels"][0]["label"] == "car" and item["labels"][0]["bbox"]["w"] == 3
    depth = next(f for f in manifest.frames if f.topic == "/spot/depth/frontleft/image")
    assert read_image(directory, depth).dtype == np.uint16
    loader = torch.utils.data.DataLoader(FrameDataset(directory, color.split), batch_size=1, collate_fn=list)
    assert sum(1 for _ in loader) == len(frames_of(directory, color.split))
    with pytest.raises(DatasetError, match="split 'dev'"):
        FrameDataset(directory, "dev")
