"""The environment fingerprint: lock files, installed packages, Python/torch/CUDA.

``python -m toolkit.experiment.fingerprint`` prints it as JSON: the build stage runs that inside the image it
built, so build/env.json describes the environment the stages run in.
"""

from __future__ import annotations

import hashlib
import json
import platform
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


def lock_sha256(lock_files: list[Path]) -> str | None:
    """The digest of the experiment's package lock (``requirements.lock``): rebuild the environment from it."""
    locks = [p for p in lock_files if p.suffix == ".lock" and p.is_file()]
    return _sha256(b"".join(p.read_bytes() for p in locks)) if locks else None


def environment(lock_files: list[Path]) -> dict[str, Any]:
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
    }
    stable = {k: v for k, v in env.items() if k not in ("executable", "image")}
    env["fingerprint"] = _sha256(json.dumps(stable, sort_keys=True).encode())
    return env


LOCK_FILES = [Path("requirements.txt"), Path("requirements.lock")]


if __name__ == "__main__":
    print(json.dumps(environment(LOCK_FILES), sort_keys=True))
