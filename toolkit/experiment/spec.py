"""The experiment spec: a pydantic schema of the config that Hydra composes from ``conf/``.

Every model forbids unknown keys, so a typo (``trainer.max_step``) is an
error naming the key and the allowed ones instead of a silently ignored value.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from toolkit.experiment.plan import STAGES

__all__ = ["STAGES", "DatasetRef", "ExperimentSpec", "Resources", "StageResources", "parse_memory"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*$", re.IGNORECASE)
_POWERS = {"": 0, "K": 1, "M": 2, "G": 3, "T": 4}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_memory(text: str) -> int:
    """``"4GB"``/``"512MiB"``/``"2G"`` -> bytes; raises ValueError on anything else."""
    match = _MEMORY.match(text)
    if not match:
        raise ValueError(f"expected a size like '4GB' or '512MiB', got {text!r}")
    number, unit = float(match.group(1)), (match.group(2) or "").upper()
    letter = "" if unit in ("", "B") else unit[0]
    base = 1024 if "I" in unit else 1000
    return int(number * base ** _POWERS[letter])


class DatasetRef(_Strict):
    """A dataset as a DVC reference: ``path`` inside ``repo`` at ``rev``; without ``repo``, a local path."""

    path: str = Field(min_length=1, description="file or directory (inside repo when repo is set)")
    repo: str | None = Field(default=None, description="Git/DVC repo URL or local path; omit for a local path")
    rev: str | None = Field(default=None, description="Git revision of repo (required with repo)")

    @model_validator(mode="after")
    def _rev_with_repo(self) -> DatasetRef:
        if self.repo and not self.rev:
            raise ValueError("rev: required when repo is set (pin a tag or commit)")
        return self


class ProcessSpec(_Strict):
    patch_size: int = Field(default=32, ge=4, le=512)
    stride: int = Field(default=32, ge=1, le=512)


class ModelSpec(_Strict):
    name: str = "small_cnn"
    channels: list[int] = Field(default_factory=lambda: [8, 16])
    hidden: int = Field(default=32, ge=1)
    dropout: float = Field(default=0.1, ge=0.0, lt=1.0)


class TrainerSpec(_Strict):
    max_steps: int = Field(ge=1)
    batch_size: int = Field(default=32, ge=1)
    lr: float = Field(default=1e-3, gt=0)
    checkpoint_every_n_steps: int = Field(default=10, ge=1)
    deterministic: bool = True
    val_fraction: float = Field(default=0.2, ge=0.0, lt=1.0)
    accelerator: str = Field(default="auto", description="auto uses a GPU when present")


class Resources(_Strict):
    cpu: int = Field(default=1, ge=1)
    memory: str = "1GB"
    gpus: int = Field(default=0, ge=0)
    gpu_type: str | None = None
    runner: list[str] = Field(default_factory=lambda: ["ubuntu-latest"])
    runtime: Literal["container", "host"] = Field(
        default="container", description="container: in the build stage's image when a container runtime is present"
    )

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str) -> str:
        parse_memory(value)
        return value

    @property
    def memory_bytes(self) -> int:
        return parse_memory(self.memory)


class ImageSpec(_Strict):
    base: str = Field(default="localhost/pitlane-base:bookworm", min_length=1, description="the Dockerfile's FROM")


class StageResources(_Strict):
    build: Resources = Field(default_factory=Resources)
    process: Resources = Field(default_factory=Resources)
    train: Resources = Field(default_factory=Resources)


class ExperimentSpec(_Strict):
    """The composed experiment; ``params.yaml`` is this model dumped deterministically."""

    name: str = Field(min_length=1)
    seed: int = 0
    datasets: dict[str, DatasetRef] = Field(min_length=1)
    process: ProcessSpec = Field(default_factory=ProcessSpec)
    model: ModelSpec = Field(default_factory=ModelSpec)
    trainer: TrainerSpec
    resources: StageResources = Field(default_factory=StageResources)
    image: ImageSpec = Field(default_factory=ImageSpec)

    @field_validator("datasets")
    @classmethod
    def _dataset_names(cls, value: dict[str, DatasetRef]) -> dict[str, DatasetRef]:
        for name in value:
            if not _NAME.match(name):
                raise ValueError(f"dataset name {name!r}: use letters, digits, '_', '-', '.' (it names a DVC stage)")
        return value

    def stage_tasks(self) -> dict[str, list[str]]:
        """Which tasks each stage runs: the spec, not dvc.yaml, decides (dvc.yaml foreach's over datasets)."""
        return {
            "build": ["build"],
            "process": [f"process@{name}" for name in self.datasets],
            "train": ["train"],
        }

    def to_params(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
