"""Predictor interface v1 of this experiment's model package (`pitlane autolabel` loads it).

The train stage copies this file into models/ beside model.pt2 (a torch.export program) and
classes.json, so a released package is usable without this repo's source.
It tags a whole image with the camera it most likely came from: the mean of the
per-patch class probabilities, patches cut exactly as the process stage cuts them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

PATCH = 32


class CameraPredictor:
    def __init__(self, model: Any, classes: list[str], device: str) -> None:
        self.model = model
        self.classes = classes
        self.device = device

    def predict(self, image: np.ndarray) -> list[dict[str, Any]]:
        gray = image.astype(np.float32).mean(axis=2)
        peak = float(gray.max()) if gray.size else 0.0
        gray = gray / peak if peak > 0 else gray
        rows = range(0, gray.shape[0] - PATCH + 1, PATCH)
        cols = range(0, gray.shape[1] - PATCH + 1, PATCH)
        tiles = [gray[r : r + PATCH, c : c + PATCH] for r in rows for c in cols]
        if not tiles:
            return []
        batch = torch.from_numpy(np.stack(tiles)[:, None, :, :]).to(self.device)
        with torch.no_grad():
            probabilities = torch.softmax(self.model(batch), dim=1).mean(dim=0)
        score, index = torch.max(probabilities, dim=0)
        return [{"label": self.classes[int(index)], "score": float(score), "bbox": None}]


def load(model_dir: Path, device: str) -> CameraPredictor:
    model = torch.export.load(str(Path(model_dir) / "model.pt2")).module().to(device)
    classes = json.loads((Path(model_dir) / "classes.json").read_text())
    return CameraPredictor(model, classes, device)
