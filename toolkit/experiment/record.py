"""The run record (``run.json``, an output of train) and the local run history behind ``pitlane runs``.

A record says what produced the weights: commit and dirty-diff hash, params
hash, the dvc.lock hashes of datasets and processed data with their source
bags, environment fingerprint, versions, hardware, seed, command, times and
final metrics. ``pitlane run`` copies each record into ``.pitlane/runs/``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from toolkit.cpus import usable_cpus
from toolkit.errors import NotFoundError, UserError
from toolkit.experiment.envvars import COMMAND_ENV, IMAGE_ENV

RECORD = "run.json"
HISTORY = Path(".pitlane") / "runs"
VERSIONED = ("pitlane", "torch", "lightning", "dvc", "dvclive", "hydra-core", "numpy", "rosbags")
# Outputs the pipeline rewrites while it runs: they are not "uncommitted source changes".
_GENERATED = ("dvc.lock", RECORD, "dvclive", "build", "models", "data/processed")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass
class RunClock:
    started_at: str = field(default_factory=_now)
    _t0: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        return round(time.monotonic() - self._t0, 3)


def _git(repo: Path, *args: str) -> str | None:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True)
    return done.stdout.decode(errors="replace").strip() if done.returncode == 0 else None


def git_state(repo: Path) -> dict[str, Any]:
    """HEAD commit, and a hash of uncommitted changes to sources/config (pipeline outputs excluded)."""
    commit = _git(repo, "rev-parse", "HEAD")
    # DVC appends its outputs to .gitignore files as it runs; that is not a source change either.
    excludes = [f":(exclude){p}" for p in _GENERATED] + [":(exclude,glob)**/.gitignore"]
    diff = (
        subprocess.run(["git", "diff", "HEAD", "--binary", "--", ".", *excludes], cwd=repo, capture_output=True).stdout
        if commit
        else b""
    )
    untracked = _git(repo, "ls-files", "--others", "--exclude-standard", "--", ".", *excludes) or ""
    dirty = bool(diff or untracked)
    digest = hashlib.sha256(diff + b"\0" + untracked.encode()).hexdigest() if dirty else None
    return {"commit": commit, "dirty": dirty, "dirty_diff_sha256": digest}


def lock_hashes(repo: Path) -> dict[str, Any]:
    """Per-stage dep/out hashes from dvc.lock (written stage by stage, so upstream entries are current)."""
    path = repo / "dvc.lock"
    if not path.is_file():
        return {}
    import yaml

    stages = (yaml.safe_load(path.read_text()) or {}).get("stages", {})
    out: dict[str, Any] = {}
    for name, stage in sorted(stages.items()):
        if name == "train":
            continue
        entry: dict[str, Any] = {}
        for kind in ("deps", "outs"):
            items = {i["path"]: i.get("md5") or i.get("hash") for i in stage.get(kind, []) if "path" in i}
            if items:
                entry[kind] = items
        out[name] = entry
    return out


def dataset_sources(processed: Path) -> dict[str, Any]:
    """The source records (repo, rev, commit, source md5) the process tasks wrote next to their outputs."""
    sources: dict[str, Any] = {}
    for meta in sorted(processed.glob("*/meta.json")):
        data = json.loads(meta.read_text())
        sources[meta.parent.name] = data.get("source", data)
    return sources


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def hardware(accelerator: str | None = None) -> dict[str, Any]:
    import torch

    cpu_model = platform.processor() or None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpus = (
        [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    )
    return {
        "cpus": usable_cpus(),
        "cpu_model": cpu_model,
        "memory_bytes": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
        "gpus": gpus,
        "accelerator": accelerator,
        "hostname": platform.node(),
    }


def os_release() -> str | None:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return None


def runtime() -> dict[str, Any]:
    """Where train ran: in the build stage's image (its id) or on the host, with the Python and OS it saw."""
    image = os.environ.get(IMAGE_ENV)
    return {"where": "container" if image else "host", "image": image, "python": sys.executable, "os": os_release()}


def params_sha256(repo: Path) -> str | None:
    path = repo / "params.yaml"
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def build_record(repo: Path, spec: Any, result: Any, clock: RunClock) -> dict[str, Any]:
    env_path = repo / "build" / "env.json"
    env = json.loads(env_path.read_text()) if env_path.is_file() else {}
    return {
        "schema": 1,
        "name": spec.name,
        "git": git_state(repo),
        "params_sha256": params_sha256(repo),
        "params": spec.to_params(),
        "data": {"lock": lock_hashes(repo), "sources": dataset_sources(repo / "data" / "processed")},
        "environment": {
            "fingerprint": env.get("fingerprint"),
            "lock_sha256": env.get("lock_sha256"),
            "image": env.get("image"),
        },
        "runtime": runtime(),
        "versions": versions(),
        "hardware": hardware(getattr(result, "accelerator", None)),
        "seed": spec.seed,
        "command": os.environ.get(COMMAND_ENV) or shlex.join([Path(sys.executable).name, *sys.argv]),
        "started_at": clock.started_at,
        "finished_at": _now(),
        "duration_s": clock.elapsed(),
        "training": {k: v for k, v in asdict(result).items() if k != "metrics"},
        "metrics": dict(sorted(result.metrics.items())),
    }


def write_run_record(path: Path, spec: Any, result: Any, clock: RunClock, repo: Path = Path(".")) -> dict[str, Any]:
    record = build_record(repo.resolve(), spec, result, clock)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return record


# --- history ------------------------------------------------------------------


def record_id(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def remember(repo: Path, extra: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]] | None:
    """Copy the workspace run.json into the history; returns (id, record) or None without a record."""
    path = repo / RECORD
    if not path.is_file():
        return None
    text = path.read_text()
    rid = record_id(text)
    record = json.loads(text)
    history = repo / HISTORY
    history.mkdir(parents=True, exist_ok=True)
    target = history / f"{rid}.json"
    if not target.exists():
        target.write_text(json.dumps({"id": rid, **(extra or {}), "record": record}, indent=2, sort_keys=True) + "\n")
    return rid, record


def _summary(rid: str, record: dict[str, Any], origin: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    params = record.get("params", {})
    git = record.get("git", {})
    return {
        "id": rid,
        "origin": origin,
        "name": record.get("name"),
        "finished_at": record.get("finished_at"),
        "commit": git.get("commit"),
        "dirty": git.get("dirty"),
        "params_sha256": record.get("params_sha256"),
        "seed": record.get("seed"),
        "trainer": params.get("trainer", {}),
        "model": params.get("model", {}),
        "datasets": sorted(params.get("datasets", {})),
        "metrics": record.get("metrics", {}),
        **(extra or {}),
    }


def list_runs(repo: Path) -> list[dict[str, Any]]:
    """Runs of this repo, newest first: the history of ``pitlane run`` plus the workspace run.json."""
    repo = Path(repo)
    if not (repo / "dvc.yaml").is_file():
        raise UserError(f"{repo}: not an experiment repo (no dvc.yaml)")
    runs: dict[str, dict[str, Any]] = {}
    for path in sorted((repo / HISTORY).glob("*.json")):
        try:
            entry = json.loads(path.read_text())
        except ValueError:
            continue
        extra = {k: entry[k] for k in ("experiment",) if entry.get(k)}
        runs[entry["id"]] = _summary(entry["id"], entry["record"], "history", extra)
    workspace = repo / RECORD
    if workspace.is_file():
        text = workspace.read_text()
        rid = record_id(text)
        summary = _summary(rid, json.loads(text), "workspace")
        runs[rid] = {**runs.get(rid, summary), "origin": "workspace"}
    return sorted(runs.values(), key=lambda r: r.get("finished_at") or "", reverse=True)


def _record_at_rev(repo: Path, rev: str) -> str | None:
    """run.json as of a Git revision: a DVC output, so read through dvc.lock from the cache or remote."""
    if _git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}") is None:
        return None
    import dvc.api

    try:
        return str(dvc.api.read(RECORD, repo=str(repo), rev=rev))
    except Exception:  # not in that commit's dvc.lock, or its object is in no cache/remote
        return None


def show_run(repo: Path, ref: str) -> dict[str, Any]:
    """A full record by run id (prefix), ``workspace``, or a Git revision whose commit holds run.json."""
    repo = Path(repo)
    if ref in ("workspace", "latest") and (repo / RECORD).is_file():
        text = (repo / RECORD).read_text()
        return {"id": record_id(text), "origin": "workspace", "record": json.loads(text)}
    matches = sorted((repo / HISTORY).glob(f"{ref}*.json")) if ref and "/" not in ref else []
    if len(matches) == 1:
        entry = json.loads(matches[0].read_text())
        return {"origin": "history", **entry}
    if len(matches) > 1:
        raise UserError(f"run {ref}: ambiguous ({len(matches)} runs start with it)")
    at_rev = _record_at_rev(repo, ref)
    if at_rev:
        return {"id": record_id(at_rev), "origin": f"git:{ref}", "record": json.loads(at_rev)}
    raise NotFoundError(f"run {ref}: no such run id, and no run.json at git revision {ref}")
