"""The template's build stage: build the experiment image and write build/env.json.

Where no container runtime is present (or ``resources.build.runtime: host``)
it records the host's environment and why there is no image; the process and
train stages then run on the host.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from toolkit.errors import PitlaneError
from toolkit.experiment import container, image
from toolkit.experiment.fingerprint import LOCK_FILES, environment

ENV_JSON = Path("build/env.json")


def _params(repo: Path) -> dict[str, Any]:
    import yaml

    return dict(yaml.safe_load((repo / "params.yaml").read_text()) or {})


def runtime_of(params: dict[str, Any], stage: str) -> str:
    return str((params.get("resources") or {}).get(stage, {}).get("runtime", "container"))


def build_environment(repo: Path = Path(".")) -> dict[str, Any]:
    params = _params(repo)
    engine = container.detect() if runtime_of(params, "build") == "container" else None
    if engine is None:
        reason = "resources.build.runtime: host" if runtime_of(params, "build") == "host" else container.INSTALL_HINT
        print(f"build: no image ({reason}); process and train run on the host", file=sys.stderr)
        env = environment(LOCK_FILES)  # the stage runs in the repo: the paths are relative to it
        env["image"] = {"status": "unavailable", "reason": reason}
        return env
    built = image.build(
        engine,
        repo,
        name=str(params.get("name") or repo.resolve().name),
        base=str((params.get("image") or {}).get("base") or image.DEFAULT_BASE),
        dockerfile=repo / "Dockerfile",
        lock=repo / "requirements.lock",
        requirements=repo / "requirements.txt",
    )
    env = image.environment_in(engine, built["id"])
    env["image"] = built
    print(f"build: image {built['id'][:19]} ({built['reference']})", file=sys.stderr)
    return env


def main() -> int:
    try:
        env = build_environment(Path("."))
    except PitlaneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    ENV_JSON.parent.mkdir(parents=True, exist_ok=True)
    ENV_JSON.write_text(json.dumps(env, indent=2, sort_keys=True) + "\n")
    return 0
