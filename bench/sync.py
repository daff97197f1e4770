"""Benchmark: registry sync of 10,000 release tags vs ``gto show`` on the same repository.

Run: ``.venv/bin/python bench/sync.py [--tags 10000]``; writes ``bench/results/sync.json``.

The repository is generated here with pygit2: one commit holding a dvc.lock
and .dvc/config, and N annotated tags ``model-K@v1.0.I`` (20 artifacts) whose
messages are valid pitlane manifests. Measured on that same repository:

- ``gto show --json`` (the real GTO CLI): rebuilds its whole state from every
  tag on every call; this is what a GTO user runs to learn the registry state.
- pygit2 listing alone: reading every ref and tag object (the floor for any
  tool that looks at all tags).
- our first sync into an empty SQLite registry (every tag settled in its own
  transaction with files, lineage, audit event).
- our incremental sync when nothing changed and when one tag was added: what
  runs on every webhook and poll. After it, the state is one indexed query.

The headline ratio compares ``gto show`` with the incremental sync that
brings the registry up to date (target >= 10x).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pygit2  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from registry.core.db import Database  # noqa: E402
from registry.core.migrate import upgrade  # noqa: E402
from registry.models import PackageVersion  # noqa: E402
from registry.services import access  # noqa: E402
from registry.services import packages as pkgs  # noqa: E402
from registry.services.remotes import register_remote  # noqa: E402
from registry.sync import sync_remote  # noqa: E402
from toolkit.release.manifest import ManifestFile, PackageManifest  # noqa: E402
from toolkit.release.tags import iter_release_tags  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "sync.json"
ARTIFACTS = 20
MD5 = "0123456789abcdef0123456789abcdef"
DVC_LOCK = f"""schema: '2.0'
stages:
  train:
    cmd: python train.py
    deps:
    - path: data/slices/a.mcap
      hash: md5
      md5: fedcba9876543210fedcba9876543210
      size: 1000
    outs:
    - path: model.pt
      hash: md5
      md5: {MD5}
      size: 4096
"""
DVC_CONFIG = "[core]\n    remote = storage\n['remote \"storage\"']\n    url = s3://bench/exp\n"


def make_repo(path: Path, n: int) -> None:
    repo = pygit2.init_repository(str(path), bare=True)
    sig = pygit2.Signature("Bench", "bench@pitlane.local")
    builder = repo.TreeBuilder()
    builder.insert("dvc.lock", repo.create_blob(DVC_LOCK.encode()), pygit2.enums.FileMode.BLOB)
    dvc_dir = repo.TreeBuilder()
    dvc_dir.insert("config", repo.create_blob(DVC_CONFIG.encode()), pygit2.enums.FileMode.BLOB)
    builder.insert(".dvc", dvc_dir.write(), pygit2.enums.FileMode.TREE)
    commit = repo.create_commit("refs/heads/main", sig, sig, "experiment", builder.write(), [])
    now = datetime.now(UTC).replace(microsecond=0)
    for i in range(n):
        tag_release(repo, f"model-{i % ARTIFACTS}", f"v1.0.{i // ARTIFACTS}", commit, now, i, MD5, 4096)


def tag_release(
    repo: pygit2.Repository, name: str, version: str, commit: pygit2.Oid, now: datetime, seq: int, md5: str, size: int
) -> None:
    """An annotated release tag NAME@VERSION whose message is the manifest of one model.pt, tagged at now + seq s."""
    manifest = PackageManifest(
        name=name,
        version=version,
        tag=f"{name}@{version}",
        commit=str(commit),
        created_at=now,
        files=[ManifestFile(path="model.pt", md5=md5, size=size)],
    )
    tagger = pygit2.Signature("Bench", "bench@pitlane.local", int(now.timestamp()) + seq, 0)
    repo.create_tag(f"{name}@{version}", commit, pygit2.enums.ObjectType.COMMIT, tagger, manifest.to_message())


def timed(fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def cpu_timed(fn):  # type: ignore[no-untyped-def]
    """(wall s, CPU s of this process and its finished children, result): the machine is shared, so CPU
    seconds are the load-independent measure and wall seconds what a user waits."""

    def cpu() -> float:
        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    c0, t0 = cpu(), time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, cpu() - c0, result


def run(n: int) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="pitlane-bench-sync-"))
    try:
        repo_path = work / "exp.git"
        gen_s, _ = timed(lambda: make_repo(repo_path, n))
        print(f"generated {n} annotated tags in {gen_s:.1f} s", flush=True)

        gto = str(Path(sys.executable).parent / "gto")
        env = {**os.environ, "GTO_EMOJIS": "false"}
        gto_s, gto_cpu, proc = cpu_timed(
            lambda: subprocess.run(
                [gto, "show", "--json", "-r", str(repo_path)], capture_output=True, text=True, env=env
            )
        )
        if proc.returncode != 0:
            raise SystemExit(f"gto show failed: {proc.stderr[-2000:]}")
        gto_versions = sum(1 for a in json.loads(proc.stdout).values() if a.get("version"))
        print(f"gto show: {gto_s:.2f} s wall, {gto_cpu:.2f} s CPU ({gto_versions} artifacts)", flush=True)

        list_s, _list_cpu, listed = cpu_timed(lambda: list(iter_release_tags(pygit2.Repository(str(repo_path)))))
        print(f"pygit2 list: {list_s:.2f} s ({len(listed)} tags)", flush=True)

        db = Database(f"sqlite:///{work / 'registry.db'}")
        upgrade(db.engine)
        admin = pkgs.system_principal("bench")
        with db.transaction() as s:
            access.create_project(s, admin, "bench")
            remote_id = register_remote(s, admin, "bench", str(repo_path)).id
        home = work / "home"
        first_s, first_cpu, first = cpu_timed(lambda: sync_remote(db, remote_id, home))
        assert not first.errors, first.errors[:3]
        print(f"first sync: {first_s:.1f} s wall, {first_cpu:.1f} s CPU ({len(first.versions)} versions)", flush=True)
        noop_s, noop_cpu, noop = cpu_timed(lambda: sync_remote(db, remote_id, home))
        assert noop.seen == 0

        repo = pygit2.Repository(str(repo_path))
        commit = repo.references["refs/heads/main"].target
        extra = PackageManifest(
            name="model-0",
            version="v2.0.0",
            tag="model-0@v2.0.0",
            commit=str(commit),
            created_at=datetime.now(UTC),
            files=[ManifestFile(path="model.pt", md5=MD5, size=4096)],
        )
        sig = pygit2.Signature("Bench", "bench@pitlane.local")
        repo.create_tag("model-0@v2.0.0", commit, pygit2.enums.ObjectType.COMMIT, sig, extra.to_message())
        one_s, one_cpu, one = cpu_timed(lambda: sync_remote(db, remote_id, home))
        assert one.versions == ["bench/model-0@v2.0.0"], one
        print(f"incremental: no-op {noop_s:.2f} s, one new tag {one_s:.2f} s", flush=True)

        def state() -> int:
            with db.transaction(write=False) as s:
                return int(s.execute(select(func.count()).select_from(PackageVersion)).scalar_one())

        state_s, count = timed(state)
        assert count == n + 1
        db.dispose()
        incremental = max(noop_s, one_s)
        incremental_cpu = max(noop_cpu, one_cpu)
        return {
            "tags": n,
            "gto_show_s": round(gto_s, 3),
            "gto_show_cpu_s": round(gto_cpu, 3),
            "pygit2_list_all_s": round(list_s, 3),
            "first_sync_s": round(first_s, 3),
            "first_sync_cpu_s": round(first_cpu, 3),
            "first_sync_ms_per_tag": round(first_s / n * 1000, 3),
            "incremental_sync_noop_s": round(noop_s, 3),
            "incremental_sync_one_new_tag_s": round(one_s, 3),
            "incremental_sync_cpu_s": round(incremental_cpu, 3),
            "state_query_s": round(state_s, 4),
            "ratio_gto_show_vs_incremental_sync": round(gto_s / incremental, 1),
            "ratio_gto_show_vs_incremental_sync_cpu": round(gto_cpu / incremental_cpu, 1),
            "ratio_gto_show_vs_first_sync": round(gto_s / first_s, 2),
            "ratio_gto_show_vs_first_sync_cpu": round(gto_cpu / first_cpu, 2),
            "target_ratio": 10,
            "meets_target": gto_s / incremental >= 10 and gto_cpu / incremental_cpu >= 10,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tags", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "sync": run(args.tags),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
