"""``python -m toolkit.experiment.stage STAGE [ARGS]``: run ``src/STAGE.py`` in the build stage's image, or on the host.

dvc.yaml's process and train commands go through here. ``resources.<stage>.runtime``
(``container``, the default, or ``host``) picks where; without a container
runtime or without an image in build/env.json the stage runs on the host and
says so in one line. In the container the repository is mounted at its own
path (so outputs land where DVC expects them and recorded paths read the same),
local datasets read-only likewise, and train gets no network.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from toolkit.experiment import container
from toolkit.experiment.buildstage import ENV_JSON, _params, runtime_of
from toolkit.experiment.envvars import ACCELERATOR_ENV, COMMAND_ENV, IMAGE_ENV, RESUME_ENV

# Environment a stage reads, handed into the container.
_PASSED = (RESUME_ENV, ACCELERATOR_ENV, COMMAND_ENV, "DVC_NO_ANALYTICS")
# The mounted repo belongs to the host user; git refuses to read a repo owned by another uid without this.
_GIT_SAFE = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "safe.directory", "GIT_CONFIG_VALUE_0": "*"}


def _image(repo: Path) -> dict[str, Any]:
    path = repo / ENV_JSON
    if not path.is_file():
        return {"status": "unavailable", "reason": f"no {ENV_JSON} (run the build stage)"}
    return dict(json.loads(path.read_text()).get("image") or {"status": "unavailable", "reason": "no image"})


def _local_mounts(params: dict[str, Any], repo: Path) -> list[Path]:
    """Local dataset paths and local dataset repos outside the repo: the process stage reads them."""
    found: list[Path] = []
    for ref in (params.get("datasets") or {}).values():
        for key in ("path", "repo") if not ref.get("repo") else ("repo",):
            raw = ref.get(key)
            if not raw or "://" in raw or raw.startswith("git@"):
                continue
            path = Path(raw).expanduser()
            path = path if path.is_absolute() else repo / path
            if path.exists() and not path.resolve().is_relative_to(repo):
                found.append(path.resolve())
    return sorted(set(found))


def container_command(
    engine: container.Engine, repo: Path, stage: str, args: list[str], image_id: str, params: dict[str, Any]
) -> list[str]:
    task = stage if not args else f"{stage}-{args[0]}"
    cmd = engine.command("run", "--rm", "--name", container.container_name(repo, task))
    cmd += engine.container_flags()
    cmd += ["--volume", f"{repo}:{repo}", "--workdir", str(repo), "--shm-size", "1g"]
    if stage == "train":
        cmd += ["--network", "none"]
        if (
            int((params.get("resources") or {}).get("train", {}).get("gpus") or 0)
            and os.environ.get(ACCELERATOR_ENV) != "cpu"
        ):
            cmd += engine.gpu_flags()
    else:
        for path in _local_mounts(params, repo):
            cmd += ["--volume", f"{path}:{path}:ro"]
    env = {k: os.environ[k] for k in _PASSED if k in os.environ}
    env.update(_GIT_SAFE)
    env.update({IMAGE_ENV: image_id, "HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1"})
    for key, value in sorted(env.items()):
        cmd += ["--env", f"{key}={value}"]
    return [*cmd, image_id, "python", f"src/{stage}.py", *args]


def host_reason(
    stage: str, params: dict[str, Any], engine: container.Engine | None, image: dict[str, Any]
) -> str | None:
    """Why the stage runs on the host (None: it runs in the image)."""
    if runtime_of(params, stage) == "host":
        return f"resources.{stage}.runtime: host"
    if engine is None:
        return container.INSTALL_HINT
    if image.get("status") != "built":
        return f"no image: {image.get('reason', 'not built')}"
    return None


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m toolkit.experiment.stage STAGE [ARGS...]", file=sys.stderr)
        return 2
    stage, args = argv[0], argv[1:]
    repo = Path.cwd().resolve()
    params = _params(repo)
    label = f"{stage}@{args[0]}" if args else stage
    engine = container.detect() if runtime_of(params, stage) == "container" else None
    image = _image(repo)
    reason = host_reason(stage, params, engine, image)
    if reason is not None or engine is None:
        if runtime_of(params, stage) == "container":  # asked for a container and did not get one: say so
            print(f"{label}: running on the host ({reason})", file=sys.stderr)
        # Stage scripts import from src/ (a DVC dependency of build): no __pycache__ may appear there.
        host_env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        return subprocess.call([sys.executable, f"src/{stage}.py", *args], env=host_env)
    # A container a killed run left behind would keep writing checkpoints: stop it before starting over.
    name = container.container_name(repo, stage if not args else f"{stage}-{args[0]}")
    ignore = ["--ignore"] if engine.name == "podman" else []
    subprocess.run(engine.command("rm", "--force", *ignore, name), capture_output=True)
    print(f"{label}: in container {image['id'][:19]} ({engine.name})", file=sys.stderr)
    sys.stdout.flush()
    return subprocess.call(container_command(engine, repo, stage, args, str(image["id"]), params))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
