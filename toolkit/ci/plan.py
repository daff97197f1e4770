"""What CI needs to know about an experiment before running it: the runner labels of a stage."""

from __future__ import annotations

import json
from pathlib import Path

from toolkit.errors import SpecError

STAGES = ("build", "process", "train")


def stage_plan(repo: Path, stage: str = "train") -> dict[str, str]:
    """GITHUB_OUTPUT values of a stage's resources, read from the committed params.yaml."""
    from toolkit.experiment.compose import load_params

    if stage not in STAGES:
        raise SpecError(f"unknown stage {stage!r} (one of: {', '.join(STAGES)})")
    resources = getattr(load_params(repo).resources, stage)
    return {
        "runner": json.dumps(resources.runner, separators=(",", ":")),
        "cpu": str(resources.cpu),
        "memory": resources.memory,
        "gpus": str(resources.gpus),
        "gpu_type": resources.gpu_type or "",
    }
