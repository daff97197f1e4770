"""The model: a small CNN that tells which camera a grayscale patch came from."""

from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn

from toolkit.experiment.spec import ModelSpec


class PatchClassifier(pl.LightningModule):
    def __init__(self, spec: ModelSpec, patch_size: int, num_classes: int, lr: float) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for width in spec.channels:
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            channels = width
        side = patch_size // 2 ** len(spec.channels)
        self.net = nn.Sequential(
            *layers,
            nn.Flatten(),
            nn.Linear(channels * side * side, spec.hidden),
            nn.ReLU(),
            nn.Dropout(spec.dropout),
            nn.Linear(spec.hidden, num_classes),
        )
        self.lr = lr

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = nn.functional.cross_entropy(self(x), y)
        self.log("train_loss", loss, on_step=True, prog_bar=False)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        logits = self(x)
        self.log("val_loss", nn.functional.cross_entropy(logits, y))
        self.log("val_acc", (logits.argmax(1) == y).float().mean())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr)
