"""The executor interface: where runs started from the registry execute.

An executor only starts, observes and stops jobs; the registry keeps every
job id in its database and asks the executor again after a restart, so an
executor holds no state that matters beyond what it can re-read (Ray's job
table, or the files a local job leaves in its work directory).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol


class JobState(StrEnum):
    pending = "pending"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    stopped = "stopped"

    @property
    def terminal(self) -> bool:
        return self in (JobState.succeeded, JobState.failed, JobState.stopped)


@dataclass(frozen=True)
class JobResources:
    """What a run asks of a machine: the largest request over the spec's stages."""

    cpu: float = 1.0
    memory_bytes: int = 0
    gpus: float = 0.0
    gpu_type: str | None = None

    def describe(self) -> str:
        parts = [f"{self.cpu:g} CPU"]
        if self.memory_bytes:
            parts.append(f"{self.memory_bytes / 2**30:.1f} GiB memory")
        if self.gpus:
            parts.append(f"{self.gpus:g} GPU" + (f" ({self.gpu_type})" if self.gpu_type else ""))
        return ", ".join(parts)


@dataclass(frozen=True)
class JobSpec:
    """One job: run `argv` in `workdir` with `env` added to the environment."""

    run_id: int
    workdir: Path
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    resources: JobResources = field(default_factory=JobResources)


@dataclass(frozen=True)
class JobStatus:
    state: JobState
    message: str = ""  # why it is pending, or why it failed


def launcher_argv(argv: list[str]) -> list[str]:
    """The command wrapped so it ends when the process that started it dies (see launcher.py)."""
    return [sys.executable, "-m", "registry.executors.launcher", "--", *argv]


class Executor(Protocol):
    name: str

    def submit(self, job: JobSpec) -> str:
        """Start (or queue) the job; returns its id in this executor."""
        ...

    def status(self, job_id: str) -> JobStatus: ...

    def logs(self, job_id: str) -> str: ...

    def stop(self, job_id: str) -> None: ...


# What a run inherits from the registry's environment: the basics a process needs, the toolchain's own
# variables, and storage credentials for `dvc pull/push`. Nothing else: the registry's database URL,
# webhook secret, audit key and tokens (every other PITLANE_* variable) never reach user code.
RUN_ENV_NAMES = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM", "PYTHONPATH",
     "VIRTUAL_ENV", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "PLAYWRIGHT_BROWSERS_PATH"}
)  # fmt: skip
RUN_ENV_PREFIXES = ("LC_", "PYTHON", "AWS_", "DVC_", "GIT_", "CUDA_", "NVIDIA_", "HYDRA_")


def run_environment(extra: dict[str, str], base: dict[str, str] | None = None) -> dict[str, str]:
    """The scrubbed environment of a job: allowed variables of ``base`` (the registry's) plus the job's own."""
    source = os.environ if base is None else base
    kept = {k: v for k, v in source.items() if k in RUN_ENV_NAMES or k.startswith(RUN_ENV_PREFIXES)}
    return {**kept, **extra}
