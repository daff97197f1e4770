"""The container runtime the build stage builds with and the process/train stages run in: podman, or docker.

podman runs daemonless; docker counts only where its daemon answers. On the
development machines podman needs three settings (see docs/experiments.md,
"Containers"): the ``runc`` runtime (crun refuses the kernel's hybrid
cgroups), ``--cgroup-manager=cgroupfs``, and ulimits no higher than the
sandbox allows. They are the defaults here; ``PITLANE_PODMAN_FLAGS`` and
``PITLANE_CONTAINER_FLAGS`` replace them on machines that need others.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

ENGINE_ENV = "PITLANE_CONTAINER_ENGINE"  # podman | docker | none: pick one instead of probing
PODMAN_FLAGS_ENV = "PITLANE_PODMAN_FLAGS"  # podman's global flags
CONTAINER_FLAGS_ENV = "PITLANE_CONTAINER_FLAGS"  # flags of every `build` and `run`
INSTALL_HINT = "install podman (Debian/Ubuntu: apt-get install podman runc; or run scripts/system-deps.sh)"
_ULIMITS = "--ulimit nofile=1024:1024 --ulimit nproc=1024:1024"


@dataclass(frozen=True)
class Engine:
    name: str  # "podman" or "docker"
    path: str

    def command(self, *args: str) -> list[str]:
        """``podman|docker [global flags] ARGS``."""
        return [self.path, *self.global_flags(), *args]

    def global_flags(self) -> list[str]:
        if self.name != "podman":
            return []
        configured = os.environ.get(PODMAN_FLAGS_ENV)
        if configured is not None:
            return shlex.split(configured)
        flags = ["--cgroup-manager=cgroupfs"]
        if shutil.which("runc"):
            flags = ["--runtime", "runc", *flags]
        return flags

    def container_flags(self) -> list[str]:
        """Flags every container (a build step or a stage) gets."""
        configured = os.environ.get(CONTAINER_FLAGS_ENV)
        if configured is not None:
            return shlex.split(configured)
        return shlex.split(_ULIMITS) if self.name == "podman" else []

    def gpu_flags(self) -> list[str]:
        """All NVIDIA GPUs: podman through CDI (nvidia-ctk cdi generate), docker through its NVIDIA runtime."""
        return ["--device", "nvidia.com/gpu=all"] if self.name == "podman" else ["--gpus", "all"]


@functools.cache
def _docker_answers(path: str) -> bool:
    try:
        return subprocess.run([path, "version"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def detect() -> Engine | None:
    """podman when installed, else docker when its daemon answers; ``PITLANE_CONTAINER_ENGINE`` decides instead."""
    wanted = os.environ.get(ENGINE_ENV, "").strip().lower()
    if wanted == "none":
        return None
    for name in [wanted] if wanted else ["podman", "docker"]:
        path = shutil.which(name)
        if path is None:
            continue
        if name == "podman" or _docker_answers(path):
            return Engine(name, path)
    return None


def container_name(repo: Path, task: str) -> str:
    """One name per repo and task: a new run removes a container its killed predecessor left running."""
    digest = hashlib.sha256(str(repo.resolve()).encode()).hexdigest()[:12]
    safe = "".join(c if c.isalnum() or c in "_.-" else "-" for c in task)
    return f"pitlane-{safe}-{digest}"
