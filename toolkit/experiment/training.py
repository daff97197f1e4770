"""A resumable PyTorch Lightning loop: a killed run continues to the same final weights.

``Trainer.fit(ckpt_path=...)`` alone does not resume exactly: the data order
and the RNG streams restart. Here

* the sampler shuffles with a per-epoch seed and can start mid-epoch,
* a callback stores the RNG states (as tensors and scalars: torch 2.13 loads
  checkpoints with ``weights_only=True``) and where in the epoch we were,
* checkpoints are taken by steps (an end-of-epoch checkpoint makes Lightning
  run one extra step on resume, Lightning issue 19403) and written atomically
  (temp file + rename), so a kill never leaves a half-written ``last.ckpt``,
* resume picks the newest checkpoint that loads (``last.ckpt`` can lag).

Imports torch and Lightning: import this module only inside stage scripts.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.fabric.utilities.seed import _collect_rng_states, _set_rng_states
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from torch.utils.data import DataLoader, Dataset, Sampler

from toolkit.experiment.spec import TrainerSpec

RESUME_KEY = "pitlane_resume"


class EpochSeededSampler(Sampler[int]):
    """Shuffles with seed ``(seed, epoch)``; ``start`` skips the samples a resumed epoch already saw."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.seed = seed
        self.epoch = 0
        self._start = 0
        self._start_epoch = -1

    def set_epoch(self, epoch: int) -> None:  # Lightning calls this before each epoch
        self.epoch = epoch

    def resume_at(self, epoch: int, samples_done: int) -> None:
        self._start_epoch, self._start = epoch, samples_done

    def __len__(self) -> int:
        return self.size

    def order(self, epoch: int) -> list[int]:
        generator = torch.Generator()
        generator.manual_seed(self.seed * 1_000_003 + epoch)
        return [int(i) for i in torch.randperm(self.size, generator=generator)]

    def __iter__(self) -> Iterator[int]:
        order = self.order(self.epoch)
        if self.epoch == self._start_epoch:
            order = order[self._start :]
            self._start_epoch = -1
        return iter(order)

    def state_dict(self) -> dict[str, int]:
        return {"seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.seed, self.epoch = int(state["seed"]), int(state["epoch"])


def _packed_rng(states: dict[str, Any]) -> dict[str, Any]:
    # Tensors and scalars only: Lightning loads checkpoints with weights_only=True (no numpy arrays, no
    # tuples of arbitrary objects), and one tensor pickles as one object where a list of ~7,000 ints
    # costs torch.save ~7,000 persistent_id calls per checkpoint (+9 % on a small model's loop).
    out: dict[str, Any] = {"torch": states["torch"].clone()}
    if "torch.cuda" in states:
        out["torch.cuda"] = [s.clone() for s in states["torch.cuda"]]
    if "numpy" in states:
        name, keys, pos, has_gauss, cached = states["numpy"]
        out["numpy"] = [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)]
    version, internal, gauss = states["python"]
    out["python"] = [version, torch.tensor(internal, dtype=torch.int64), gauss]
    return out


def _ints(values: Any) -> list[int]:
    return [int(v) for v in (values.tolist() if isinstance(values, torch.Tensor) else values)]


def _tensor_rng(packed: dict[str, Any]) -> dict[str, Any]:
    """Inverse of _packed_rng; also reads checkpoints that stored the states as plain lists."""
    states: dict[str, Any] = {"torch": torch.as_tensor(packed["torch"], dtype=torch.uint8)}
    if packed.get("torch.cuda") and torch.cuda.is_available():
        states["torch.cuda"] = [torch.as_tensor(s, dtype=torch.uint8) for s in packed["torch.cuda"]]
    if "numpy" in packed:
        name, keys, pos, has_gauss, cached = packed["numpy"]
        states["numpy"] = (name, np.array(_ints(keys), dtype=np.uint32), pos, has_gauss, cached)
    version, internal, gauss = packed["python"]
    states["python"] = (version, tuple(_ints(internal)), gauss)
    return states


class ExactResume(Callback):
    """Saves and restores RNG states and the position inside the epoch."""

    def __init__(self, sampler: EpochSeededSampler, batch_size: int) -> None:
        self.sampler = sampler
        self.batch_size = batch_size
        self._pending_rng: dict[str, Any] | None = None

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        progress = trainer.fit_loop.epoch_loop.batch_progress.current
        checkpoint[RESUME_KEY] = {
            "rng": _packed_rng(_collect_rng_states()),
            "epoch": trainer.current_epoch,
            "batches_done": progress.processed,  # type: ignore[attr-defined]  # a _ProcessedTracker at runtime
        }

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        state = checkpoint.get(RESUME_KEY)
        if not state:
            return
        self._pending_rng = state["rng"]
        samples_done = state["batches_done"] * self.batch_size
        # A checkpoint from the epoch's last batch: Lightning moves on to the next epoch, which starts at 0.
        if samples_done < self.sampler.size:
            self.sampler.resume_at(state["epoch"], samples_done)

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        # As late as possible: nothing between here and the step may draw from the restored streams.
        if self._pending_rng is not None:
            _set_rng_states(_tensor_rng(self._pending_rng))
            self._pending_rng = None


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temp file in the same directory, then renames it over the target.

    The rename is what makes a killed run safe: the target is the old file or the new one, never a
    torn one. There is no fsync (it cost ~2.5 % of a small model's loop): after a power loss a file may
    come back empty, and resume skips any checkpoint that does not load (newest_valid_checkpoint).
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as handle:
                torch.save(checkpoint, handle)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)


def _load_checkpoint(path: Path) -> dict[str, Any] | None:
    try:
        # Our own files, written by this loop; Lightning's loop state needs full unpickling.
        data = torch.load(path, map_location="cpu", weights_only=False)
    except Exception:
        return None
    if not isinstance(data, dict) or "state_dict" not in data or "global_step" not in data:
        return None
    return data


def newest_valid_checkpoint(directory: Path) -> Path | None:
    """The checkpoint with the highest global step that loads; None when there is none."""
    best: tuple[int, float, Path] | None = None
    for path in Path(directory).glob("*.ckpt"):
        data = _load_checkpoint(path)
        if data is None:
            continue
        key = (int(data["global_step"]), path.stat().st_mtime, path)
        if best is None or key[:2] > best[:2]:
            best = key
    return best[2] if best else None


@dataclass
class FitResult:
    global_step: int
    metrics: dict[str, float]
    resumed_from: str | None
    accelerator: str
    checkpoint_dir: str
    extra: dict[str, Any] = field(default_factory=dict)


def seed_everything(seed: int) -> None:
    pl.seed_everything(seed, workers=True, verbose=False)


def make_train_loader(dataset: Dataset[Any], batch_size: int, seed: int) -> DataLoader[Any]:
    sampler = EpochSeededSampler(len(dataset), seed)  # type: ignore[arg-type]
    # Its own generator: the loader's base-seed draw must not consume the global torch stream.
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, generator=torch.Generator(), num_workers=0)


def fit(
    module_factory: Callable[[], pl.LightningModule],
    train_set: Dataset[Any],
    val_set: Dataset[Any] | None,
    trainer_spec: TrainerSpec,
    seed: int,
    checkpoint_dir: Path,
    resume: bool = False,
    logger: Any = None,
    accelerator: str | None = None,
    cpu_threads: int | None = None,
) -> tuple[pl.LightningModule, FitResult]:
    """Train ``module_factory()`` for ``trainer_spec.max_steps``; with ``resume``, continue from the newest checkpoint.

    Without ``resume`` old checkpoints are removed first, so a fresh run never mixes with a stale one.
    """
    checkpoint_dir = Path(checkpoint_dir)
    if not resume and checkpoint_dir.exists():
        shutil.rmtree(checkpoint_dir)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    ckpt = newest_valid_checkpoint(checkpoint_dir) if resume else None
    if resume:
        print(f"resume: {f'from {ckpt}' if ckpt else f'no valid checkpoint in {checkpoint_dir}, starting at step 0'}")

    if cpu_threads:
        # The stage's cpu request bounds intra-op threads: oversubscribed cores slow small models ~10x.
        torch.set_num_threads(cpu_threads)
    seed_everything(seed)
    module = module_factory()
    train_loader = make_train_loader(train_set, trainer_spec.batch_size, seed)
    has_val = val_set is not None and len(val_set) > 0  # type: ignore[arg-type]
    val_loader = DataLoader(val_set, batch_size=trainer_spec.batch_size) if has_val and val_set is not None else None
    checkpoints = ModelCheckpoint(
        dirpath=checkpoint_dir,
        filename="step-{step:06d}",
        auto_insert_metric_name=False,
        every_n_train_steps=trainer_spec.checkpoint_every_n_steps,
        save_last=True,
        save_top_k=1,
        save_on_train_epoch_end=False,
    )
    trainer = pl.Trainer(
        max_steps=trainer_spec.max_steps,
        max_epochs=-1,
        accelerator=accelerator or trainer_spec.accelerator,
        devices=1,
        deterministic=trainer_spec.deterministic,
        callbacks=[ExactResume(train_loader.sampler, trainer_spec.batch_size), checkpoints],  # type: ignore[arg-type]
        plugins=[AtomicCheckpointIO()],
        logger=logger if logger is not None else False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,
        log_every_n_steps=1,
        default_root_dir=str(checkpoint_dir),
        limit_val_batches=1.0 if val_loader is not None else 0,
    )
    trainer.fit(
        module, train_dataloaders=train_loader, val_dataloaders=val_loader, ckpt_path=str(ckpt) if ckpt else None
    )
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if torch.is_tensor(v) and v.numel() == 1}
    result = FitResult(
        global_step=int(trainer.global_step),
        metrics=metrics,
        resumed_from=str(ckpt) if ckpt else None,
        accelerator=type(trainer.accelerator).__name__.removesuffix("Accelerator").lower(),
        checkpoint_dir=str(checkpoint_dir),
    )
    return module, result
