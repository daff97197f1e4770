"""Benchmark: lineage queries from the registry database vs re-reading Git for each question.

Run: ``.venv/bin/python bench/lineage.py [--versions 2000]``; writes ``bench/results/lineage.json``.

A repository is generated with pygit2: N commits, each with its own dvc.lock
(a slice dependency) and slice sidecar naming one of 50 source bags, and one
annotated release tag per commit carrying a pitlane manifest. The real sync
loads it into SQLite; then 200 firmware images (10 versions each) and 500
vehicles (3 deployments each) are recorded through the services.

Timed, 50 queries each (p50/p95): ``trace vehicle:ID`` and the reverse
``trace bag:MD5`` from the database. The alternative is what a team without
registry tables does to answer "which versions were trained on this bag":
read every release tag's commit from Git (dvc.lock + sidecars, no checkout,
the same readers the sync uses) and match the md5.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pygit2  # noqa: E402
from sync import tag_release  # noqa: E402  (bench/sync.py, beside this script)

from registry.core.db import Database  # noqa: E402
from registry.core.migrate import upgrade  # noqa: E402
from registry.schemas_links import DeploymentIn, FirmwareIn  # noqa: E402
from registry.services import access, lineage, links  # noqa: E402
from registry.services import packages as pkgs  # noqa: E402
from registry.services.remotes import register_remote  # noqa: E402
from registry.sync import sync_remote  # noqa: E402
from toolkit.release.commit import scan_commit, sidecar_sources  # noqa: E402
from toolkit.release.tags import iter_release_tags  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "lineage.json"
SOURCES = [hashlib.md5(f"source-{i}".encode()).hexdigest() for i in range(50)]
MODEL_MD5 = "0123456789abcdef0123456789abcdef"


def _blob(repo: pygit2.Repository, text: str) -> pygit2.Oid:
    return repo.create_blob(text.encode())


def make_repo(path: Path, n: int) -> None:
    repo = pygit2.init_repository(str(path), bare=True)
    sig = pygit2.Signature("Bench", "bench@pitlane.local")
    config = _blob(repo, "[core]\n    remote = s\n['remote \"s\"']\n    url = s3://bench/exp\n")
    parent: list[pygit2.Oid] = []
    now = datetime.now(UTC).replace(microsecond=0)
    for i in range(n):
        slice_md5 = hashlib.md5(f"slice-{i}".encode()).hexdigest()
        lock = (
            "schema: '2.0'\nstages:\n  train:\n    cmd: python train.py\n    deps:\n"
            f"    - path: data/slices/s{i}.mcap\n      hash: md5\n      md5: {slice_md5}\n      size: 100\n"
            f"    outs:\n    - path: model.pt\n      hash: md5\n      md5: {MODEL_MD5}\n      size: 10\n"
        )
        sidecar = json.dumps({"source": {"path": f"bags/drive{i % 50}.mcap", "md5": SOURCES[i % 50]}})
        root = repo.TreeBuilder()
        root.insert("dvc.lock", _blob(repo, lock), pygit2.enums.FileMode.BLOB)
        dvc = repo.TreeBuilder()
        dvc.insert("config", config, pygit2.enums.FileMode.BLOB)
        root.insert(".dvc", dvc.write(), pygit2.enums.FileMode.TREE)
        slices = repo.TreeBuilder()
        slices.insert(f"s{i}.mcap.lineage.json", _blob(repo, sidecar), pygit2.enums.FileMode.BLOB)
        data = repo.TreeBuilder()
        data.insert("slices", slices.write(), pygit2.enums.FileMode.TREE)
        root.insert("data", data.write(), pygit2.enums.FileMode.TREE)
        commit = repo.create_commit("refs/heads/main", sig, sig, f"train {i}", root.write(), parent)
        parent = [commit]
        tag_release(repo, "detector", f"v1.{i // 100}.{i % 100}", commit, now, i, MODEL_MD5, 10)


def git_reverse_lookup(repo_path: Path, bag_md5: str) -> list[str]:
    """Without registry tables: every release tag's commit read from Git, sidecars matched."""
    repo = pygit2.Repository(str(repo_path))
    hits = []
    for tag in iter_release_tags(repo):
        scan = scan_commit(repo, tag.commit)
        if any(md5 == bag_md5 for sc in scan.sidecars.values() for _, md5 in sidecar_sources(sc)):
            hits.append(tag.parsed.tag)
    return hits


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 2),
    }


def run(n: int, repeat: int) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="pitlane-bench-lineage-"))
    rng = random.Random(3)
    try:
        repo_path = work / "exp.git"
        make_repo(repo_path, n)
        db = Database(f"sqlite:///{work / 'registry.db'}")
        upgrade(db.engine)
        admin = pkgs.system_principal("bench")
        with db.transaction() as s:
            access.create_project(s, admin, "perception")
            remote_id = register_remote(s, admin, "perception", str(repo_path)).id
        t0 = time.perf_counter()
        report = sync_remote(db, remote_id, work / "home")
        sync_s = time.perf_counter() - t0
        assert len(report.versions) == n and not report.errors, report.errors[:3]
        versions = [v.split("@", 1)[1] for v in report.versions]
        start = datetime(2025, 1, 1, tzinfo=UTC)
        with db.transaction() as s:
            for f in range(200):
                chosen = rng.sample(versions, 10)
                refs = [f"perception/detector@{v}" for v in chosen]
                body = FirmwareIn(name="adas", version=f"2025.{f}", packages=refs)
                links.add_firmware(s, admin, "perception", body)
            for v in range(500):
                for k in range(3):
                    dep = DeploymentIn(
                        vehicle=f"car-{v}",
                        firmware=f"adas@2025.{rng.randrange(200)}",
                        deployed_at=start + timedelta(days=k, minutes=v),
                    )
                    links.record_deployment(s, admin, dep)
        vehicle_t, bag_t, git_t = [], [], []
        for _ in range(repeat):
            vehicle = f"car-{rng.randrange(500)}"
            bag = rng.choice(SOURCES)
            with db.transaction(write=False) as s:
                t0 = time.perf_counter()
                out = lineage.trace(s, admin, f"vehicle:{vehicle}")
                vehicle_t.append(time.perf_counter() - t0)
                assert out.packages and out.source_bags
                t0 = time.perf_counter()
                back = lineage.trace(s, admin, f"bag:{bag}")
                bag_t.append(time.perf_counter() - t0)
                assert back.packages
        db_hits = set()
        with db.transaction(write=False) as s:
            db_hits = {p.version for p in lineage.trace(s, admin, f"bag:{SOURCES[0]}").packages}
        for _ in range(3):
            t0 = time.perf_counter()
            git_hits = git_reverse_lookup(repo_path, SOURCES[0])
            git_t.append(time.perf_counter() - t0)
        assert {t.split("@", 1)[1] for t in git_hits} == db_hits  # same answer both ways
        db.dispose()
        bag = percentiles(bag_t)
        return {
            "versions": n,
            "firmware": 200,
            "vehicles": 500,
            "deployments": 1500,
            "sync_s": round(sync_s, 2),
            "repeat": repeat,
            "trace_vehicle": percentiles(vehicle_t),
            "trace_bag_reverse": bag,
            "git_reverse_lookup_s": round(statistics.median(git_t), 3),
            "ratio_git_vs_db_reverse_p50": round(statistics.median(git_t) * 1000 / bag["p50_ms"], 1),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "lineage": run(args.versions, args.repeat),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
