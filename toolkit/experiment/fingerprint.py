"""The build stage's environment fingerprint: lock files, installed packages, Python/torch/CUDA, Docker image."""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any


def installed_packages() -> list[str]:
    """``name==version`` of every installed distribution, sorted (what ``pip freeze`` lists, without a subprocess)."""
    found = {
        f"{(dist.metadata['Name'] or '').lower()}=={dist.version}"
        for dist in metadata.distributions()
        if dist.metadata["Name"]
    }
    return sorted(found)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def docker_image(dockerfile: Path | None, context: Path) -> dict[str, Any]:
    """Build the image and record its id where a Docker daemon answers; otherwise say why not (no fake digest)."""
    docker = shutil.which("docker")
    if docker is None:
        return {"status": "unavailable", "reason": "docker CLI not installed"}
    probe = subprocess.run(
        [docker, "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True, timeout=20
    )
    if probe.returncode != 0:
        reason = (probe.stderr.strip().splitlines() or ["daemon not reachable"])[-1]
        return {"status": "unavailable", "reason": reason}
    if dockerfile is None or not dockerfile.is_file():
        return {"status": "skipped", "reason": "no Dockerfile", "server": probe.stdout.strip()}
    built = subprocess.run(
        [docker, "build", "-q", "-f", str(dockerfile), str(context)], capture_output=True, text=True, timeout=3600
    )
    if built.returncode != 0:
        return {"status": "failed", "reason": (built.stderr.strip().splitlines() or ["docker build failed"])[-1]}
    return {"status": "built", "image_id": built.stdout.strip(), "server": probe.stdout.strip()}


def lock_sha256(lock_files: list[Path]) -> str | None:
    """The digest of the experiment's package lock (``requirements.lock``): rebuild the environment from it."""
    locks = [p for p in lock_files if p.suffix == ".lock" and p.is_file()]
    return _sha256(b"".join(p.read_bytes() for p in locks)) if locks else None


def environment(lock_files: list[Path], dockerfile: Path | None = None, context: Path = Path(".")) -> dict[str, Any]:
    import torch

    packages = installed_packages()
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "system": f"{platform.system()} {platform.machine()}",
        "lock_files": {str(p): _sha256(p.read_bytes()) for p in lock_files if p.is_file()},
        "lock_sha256": lock_sha256(lock_files),
        "packages_sha256": _sha256("\n".join(packages).encode()),
        "package_count": len(packages),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "docker": docker_image(dockerfile, context),
    }
    stable = {k: v for k, v in env.items() if k not in ("executable", "docker")}
    env["fingerprint"] = _sha256(json.dumps(stable, sort_keys=True).encode())
    return env


def write_environment(out: Path, lock_files: list[Path], dockerfile: Path | None = None) -> dict[str, Any]:
    env = environment(lock_files, dockerfile)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(env, indent=2, sort_keys=True) + "\n")
    return env
