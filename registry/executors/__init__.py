"""Executors of runs started from the registry: `local` (a subprocess, one at a time) and `ray` (Ray Jobs)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from registry.executors.base import Executor, JobResources, JobSpec, JobState, JobStatus

if TYPE_CHECKING:  # the job launcher imports this package: keep it light
    from toolkit.config import Settings


def make_executor(settings: Settings) -> Executor:
    from toolkit.errors import UserError

    if settings.executor == "local":
        from registry.executors.local import LocalExecutor

        return LocalExecutor(Path(settings.home) / "executor" / "local")
    if settings.executor == "ray":
        from registry.executors.ray import RayExecutor

        return RayExecutor(settings.ray_address or "")
    raise UserError(f"unknown executor {settings.executor!r} (PITLANE_EXECUTOR: local or ray)")


__all__ = ["Executor", "JobResources", "JobSpec", "JobState", "JobStatus", "make_executor"]
