"""Build a small real Git+DVC experiment repo for release, sync and e2e tests.

Layout: a source bag (dvc add), a slice of it with a lineage sidecar (source
md5), a `train` stage that writes models/ and run.json, a bare Git remote.
The experiment template (templates/experiment) is exercised by its own tests;
this keeps release tests fast and independent of it.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BAG = Path(__file__).resolve().parents[1] / "fixtures" / "bags" / "ros1" / "fake_sensors_sample.bag"
VENV_BIN = Path(sys.executable).parent

TRAIN_PY = """\
import hashlib, json, pathlib, sys
slice_bytes = pathlib.Path("data/slices/slice_a.bag").read_bytes()
seed = int(sys.argv[1]) if len(sys.argv) > 1 else 0
pathlib.Path("models").mkdir(exist_ok=True)
pathlib.Path("models/model.pt").write_bytes(hashlib.sha256(slice_bytes + bytes([seed])).digest() * 64)
pathlib.Path("models/config.json").write_text(json.dumps({"seed": seed}))
# Shaped like toolkit/experiment/record.py's run record (the parts lineage reads): the dataset
# comes from a separate data repo (repo + commit + path), whose slice sidecar names the source bag.
source = json.loads(pathlib.Path("dataset_source.json").read_text())
record = {"schema": 1, "seed": seed, "command": "python train.py", "metrics": {"loss": 0.5 / (seed + 1)},
          "params_sha256": hashlib.sha256(b"params").hexdigest(), "hardware": {"cpus": 2},
          "data": {"lock": {}, "sources": {"drive_b": source}}}
pathlib.Path("run.json").write_text(json.dumps(record, indent=2))
"""


SECOND_BAG = BAG.parent / "test_bag_multiple_connections.bag"


@dataclass
class Experiment:
    path: Path
    remote: Path  # bare Git remote
    source_bag_md5: str
    slice_md5: str
    data_repo: Path | None = None  # Git repo of the run record's dataset (slice sidecar -> SECOND_BAG)

    def git(self, *args: str) -> str:
        return run(["git", *args], self.path)

    def dvc(self, *args: str) -> str:
        return run([str(VENV_BIN / "dvc"), *args], self.path)

    def retrain(self, seed: int) -> None:
        """Change the training output and commit, so the next release has new content."""
        (self.path / "dvc.yaml").write_text(_dvc_yaml(seed))
        self.dvc("repro", "-q")
        self.git("add", "dvc.yaml", "dvc.lock")
        self.git("commit", "-q", "-m", f"train seed {seed}")


def run(args: list[str], cwd: Path) -> str:
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _dvc_yaml(seed: int) -> str:
    return (
        "stages:\n  train:\n"
        f"    cmd: {sys.executable} train.py {seed}\n"
        "    deps:\n    - train.py\n    - data/slices/slice_a.bag\n"
        "    outs:\n    - models\n    - run.json\n"
    )


_TEMPLATE: Path | None = None


def copy_experiment(root: Path) -> Experiment:
    """A private copy of one per-process template experiment (building one costs ~10 s of dvc)."""
    global _TEMPLATE
    if _TEMPLATE is None:
        base = Path(tempfile.mkdtemp(prefix="pitlane-exp-template-"))
        atexit.register(shutil.rmtree, base, True)
        make_experiment(base)
        _TEMPLATE = base
    for item in _TEMPLATE.iterdir():
        shutil.copytree(item, root / item.name, symlinks=True)
    exp = Experiment(root / "exp", root / "exp-origin.git", md5(BAG), "", _TEMPLATE / "exp-data")
    exp.slice_md5 = md5(exp.path / "data" / "slices" / "slice_a.bag")
    config = exp.path / ".dvc" / "config"
    config.write_text(config.read_text().replace(str(_TEMPLATE), str(root)))
    exp.git("remote", "set-url", "origin", str(exp.remote))
    exp.git("commit", "-q", "-am", "relocate DVC remote")
    exp.git("push", "-q", "origin", "HEAD:refs/heads/main")
    return exp


def _make_data_repo(path: Path) -> Path:
    """A data repo as Git sees it: the slice's lineage sidecar (the slice bytes themselves live in DVC)."""
    (path / "slices").mkdir(parents=True)
    run(["git", "init", "-q"], path)
    sidecar = {
        "version": 1,
        "tool": "pitlane",
        "source": {
            "path": "/data/drives/drive_b.bag",
            "format": "ros1",
            "md5": md5(SECOND_BAG),
            "size_bytes": SECOND_BAG.stat().st_size,
        },
        "start_ns": 0,
        "end_ns": 5_000_000_000,
        "topics": ["/chatter"],
    }
    (path / "slices" / "drive_b_0-5s.bag.lineage.json").write_text(json.dumps(sidecar))
    run(["git", "add", "-A"], path)
    run(["git", "commit", "-q", "-m", "slice drive_b"], path)
    return path


def make_experiment(
    root: Path, configure_remote: Callable[[Path], None] | None = None, name: str = "exp"
) -> Experiment:
    """A committed, trained experiment with a bare `origin`; the DVC remote defaults to a local dir."""
    remote = root / f"{name}-origin.git"
    run(["git", "init", "-q", "--bare", str(remote)], root)
    path = root / name
    path.mkdir()
    exp = Experiment(path, remote, "", "")
    exp.git("init", "-q")
    exp.dvc("init", "-q")
    if configure_remote is not None:
        configure_remote(path)
    else:
        local = root / f"{name}-dvc-remote"
        local.mkdir()
        exp.dvc("remote", "add", "-d", "storage", str(local))
    bags = path / "data" / "bags"
    slices = path / "data" / "slices"
    bags.mkdir(parents=True)
    slices.mkdir(parents=True)
    shutil.copy(BAG, bags / BAG.name)
    # A "slice": the bag's first 8 KiB; lineage is what matters here, not decodability.
    (slices / "slice_a.bag").write_bytes(BAG.read_bytes()[:8192])
    exp.source_bag_md5 = md5(bags / BAG.name)
    exp.slice_md5 = md5(slices / "slice_a.bag")
    (slices / "slice_a.bag.lineage.json").write_text(
        json.dumps({"source": {"path": f"data/bags/{BAG.name}", "md5": exp.source_bag_md5}, "topics": ["/fix"]})
    )
    exp.dvc("add", "-q", f"data/bags/{BAG.name}", "data/slices/slice_a.bag")
    exp.data_repo = _make_data_repo(root / f"{name}-data")
    commit = run(["git", "rev-parse", "HEAD"], exp.data_repo).strip()
    dataset = {
        "repo": str(exp.data_repo),
        "rev": "main",
        "commit": commit,
        "path": "slices/drive_b_0-5s.bag",
        "md5": hashlib.md5(SECOND_BAG.read_bytes()[:4096]).hexdigest(),
    }
    (path / "dataset_source.json").write_text(json.dumps(dataset))
    (path / "train.py").write_text(TRAIN_PY)
    (path / "dvc.yaml").write_text(_dvc_yaml(0))
    exp.dvc("repro", "-q")
    exp.git("add", "-A")
    exp.git("commit", "-q", "-m", "experiment")
    exp.git("remote", "add", "origin", str(remote))
    exp.git("push", "-q", "origin", "HEAD:refs/heads/main")
    return exp
