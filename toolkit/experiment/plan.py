"""What ``pitlane run`` checks before DVC runs, and the compose cache that keeps it.

A run needs from the composed spec only where each dataset lives and what each
stage asks of the machine. That plan is taken from a validated spec and kept in
``.pitlane/compose.json`` next to the key of everything the composition depends
on, so a run whose ``conf/``, overrides and ``params.yaml`` are unchanged loads
neither Hydra (~0.5 s) nor pydantic (~0.2 s): a no-op ``pitlane run`` has to stay
close to a no-op ``dvc repro``. This module must not import either of them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from toolkit.experiment.spec import ExperimentSpec

STAGES = ("build", "process", "train")
CONF_DIR = "conf"
PARAMS = "params.yaml"
CACHE = Path(".pitlane") / "compose.json"
# Bump when the schema, the dump format or the plan changes, so cached compositions are redone.
FORMAT_VERSION = "3"


@dataclass(frozen=True)
class DatasetPlace:
    path: str
    repo: str | None = None  # None: a local path (relative to the experiment repo)


@dataclass(frozen=True)
class StageRequest:
    cpu: int
    memory: str
    memory_bytes: int
    gpus: int
    gpu_type: str | None


@dataclass(frozen=True)
class RunPlan:
    datasets: dict[str, DatasetPlace]
    resources: dict[str, StageRequest]

    @classmethod
    def of(cls, spec: ExperimentSpec) -> RunPlan:
        return cls(
            datasets={name: DatasetPlace(ref.path, ref.repo) for name, ref in spec.datasets.items()},
            resources={
                stage: StageRequest(want.cpu, want.memory, want.memory_bytes, want.gpus, want.gpu_type)
                for stage in STAGES
                for want in [getattr(spec.resources, stage)]
            },
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunPlan:
        """Raises KeyError/TypeError on a cache written by another version (the caller recomposes)."""
        return cls(
            datasets={name: DatasetPlace(**place) for name, place in data["datasets"].items()},
            resources={stage: StageRequest(**data["resources"][stage]) for stage in STAGES},
        )

    @property
    def needs_gpus(self) -> bool:
        return any(request.gpus for request in self.resources.values())

    def missing_local(self, repo_root: Path) -> list[str]:
        """Names of local datasets whose path does not exist (remote ones are checked when fetched)."""
        return [
            name
            for name, place in self.datasets.items()
            if place.repo is None and not local_path(place.path, repo_root).exists()
        ]


def local_path(path: str, repo_root: Path) -> Path:
    expanded = Path(path).expanduser()
    return expanded if expanded.is_absolute() else repo_root / expanded


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def conf_key(repo: Path, overrides: Sequence[str]) -> str:
    """Content key of everything a composition depends on (conf/ files, overrides, format version)."""
    digest = hashlib.sha256(f"{FORMAT_VERSION}\0{json.dumps(list(overrides))}\0".encode())
    conf = repo / CONF_DIR
    for path in sorted(p for p in conf.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(conf)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def remember(repo: Path, key: str, params_text: str, plan: RunPlan) -> None:
    cache = repo / CACHE
    cache.parent.mkdir(parents=True, exist_ok=True)
    record = {"key": key, "params_sha256": sha256(params_text.encode()), "plan": plan.to_json()}
    cache.write_text(json.dumps(record, sort_keys=True))


def cached(repo: Path, key: str) -> RunPlan | None:
    """The plan kept for *key*, if params.yaml is still the text composed then (a hand edit is not trusted)."""
    cache, params = repo / CACHE, repo / PARAMS
    if not (cache.is_file() and params.is_file()):
        return None
    try:
        saved = json.loads(cache.read_text())
        if saved.get("key") != key or saved.get("params_sha256") != sha256(params.read_bytes()):
            return None
        return RunPlan.from_json(saved["plan"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def run_plan(repo: Path, overrides: Sequence[str] = ()) -> RunPlan:
    """The plan for this run: from the cache when conf/, overrides and params.yaml are unchanged, else composed."""
    repo = Path(repo)
    key = conf_key(repo, overrides)
    plan = cached(repo, key)
    if plan is not None:
        return plan
    from toolkit.experiment.compose import compose_and_remember

    return RunPlan.of(compose_and_remember(repo, overrides, key))
