"""Glue of the template's train stage: processed patches -> train/val split -> resumable fit -> model files.

Environment set by ``pitlane run``: ``PITLANE_RESUME=1`` continues from the
newest checkpoint; ``PITLANE_ACCELERATOR`` overrides the spec (``--allow-cpu``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import TensorDataset

from toolkit.experiment.camera import load_processed
from toolkit.experiment.envvars import ACCELERATOR_ENV, RESUME_ENV
from toolkit.experiment.spec import ExperimentSpec
from toolkit.experiment.training import FitResult, fit

CHECKPOINTS = Path("checkpoints")


def checkpoint_key(spec: ExperimentSpec) -> str:
    """Checkpoints are kept per training config: a resume never continues a run of other params."""
    relevant = {k: v for k, v in spec.to_params().items() if k not in ("resources", "image")}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def split(n: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    generator = torch.Generator()
    generator.manual_seed(seed)
    order = [int(i) for i in torch.randperm(n, generator=generator)]
    n_val = int(n * val_fraction)
    return sorted(order[n_val:]), sorted(order[:n_val])


def fit_from_params(
    spec: ExperimentSpec,
    module_factory: Callable[[int], pl.LightningModule],
    processed: Path,
    models: Path,
    checkpoints: Path | None = None,
    resume: bool | None = None,
    logger: Any = "dvclive",
) -> tuple[pl.LightningModule, FitResult]:
    images, labels = load_processed([processed / name for name in sorted(spec.datasets)])
    classes = sorted(set(labels))
    x = torch.from_numpy(images)
    y = torch.tensor([classes.index(label) for label in labels], dtype=torch.long)
    train_idx, val_idx = split(len(y), spec.trainer.val_fraction, spec.seed)
    train_set = TensorDataset(x[train_idx], y[train_idx])
    val_set = TensorDataset(x[val_idx], y[val_idx]) if val_idx else None
    if resume is None:
        resume = os.environ.get(RESUME_ENV) == "1"
    if logger == "dvclive":
        from dvclive.lightning import DVCLiveLogger

        # dvcyaml=None: dvc.yaml already declares metrics and plots; DVCLive must not rewrite it.
        logger = DVCLiveLogger(dir="dvclive", resume=resume, save_dvc_exp=False, dvcyaml=None, report=None)
    module, result = fit(
        lambda: module_factory(len(classes)),
        train_set,
        val_set,
        spec.trainer,
        spec.seed,
        checkpoints or CHECKPOINTS / checkpoint_key(spec),
        resume=resume,
        logger=logger,
        accelerator=os.environ.get(ACCELERATOR_ENV) or None,
        cpu_threads=spec.resources.train.cpu,
    )
    models.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().cpu() for k, v in module.state_dict().items()}, models / "model.pt")
    (models / "classes.json").write_text(json.dumps(classes) + "\n")
    result.extra.update({"classes": classes, "train_samples": len(train_idx), "val_samples": len(val_idx)})
    return module, result
