"""Read a dataset for training: frames of a split as arrays, with their labels (torch optional).

``FrameDataset`` is a ``torch.utils.data.Dataset`` over the image frames of one
split: each item is ``{"image": uint8 tensor (C, H, W), "labels": [...],
"predictions": [...], "frame": frame id}``. Use ``transform`` to resize or
normalize; boxes are in the original pixel coordinates.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.datasets import manifest as mf
from toolkit.errors import DatasetError


def frames_of(dataset_dir: Path, split: str | None = None, kind: str = "image") -> list[mf.Frame]:
    manifest = mf.read(dataset_dir)
    if split is not None and split not in ("train", "val", "test"):
        raise DatasetError(f"split {split!r}: use train, val or test")
    return [f for f in manifest.frames if f.kind == kind and (split is None or f.split == split)]


def read_image(dataset_dir: Path, frame: mf.Frame) -> np.ndarray:
    """Pixels as stored: (H, W, 3) uint8 RGB for colour, (H, W) for mono and 16-bit depth."""
    import cv2

    path = dataset_dir / frame.path
    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise DatasetError(f"{path}: missing or unreadable (run `dvc pull`)")
    if pixels.ndim == 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGB if pixels.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(pixels)


class FrameDataset:
    """Image frames of one split as a map-style torch dataset (no torch import until an item is read)."""

    def __init__(
        self, dataset_dir: Path, split: str | None = None, transform: Callable[[Any], Any] | None = None
    ) -> None:
        self.dir = Path(dataset_dir)
        self.frames = frames_of(self.dir, split)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> dict[str, Any]:
        import torch

        frame = self.frames[index]
        pixels = read_image(self.dir, frame)
        chw = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
        image = torch.from_numpy(np.ascontiguousarray(chw))
        item = {
            "image": image,
            "labels": [lab.model_dump() for lab in frame.labels],
            "predictions": [lab.model_dump() for lab in frame.predictions],
            "frame": frame.id,
        }
        return self.transform(item) if self.transform else item
