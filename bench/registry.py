"""Benchmark: resolving a package by channel on the Pitlane registry vs MLflow's model registry.

Run: ``.venv/bin/python bench/registry.py [--versions 10000] [--seconds 10]``;
writes ``bench/results/registry.json``.

Same data on both sides: one package / registered model with N versions and
a ``production`` channel / alias. Both servers are real processes on this
machine with SQLite backends:

- Pitlane: ``registry.serving.serve_processes`` (what ``pitlane serve --processes N`` runs):
  N single-worker uvicorn processes sharing the port with SO_REUSEPORT (one worker per
  process: see the uvicorn multi-worker pitfall in docs/registry.md),
  ``GET /api/v1/resolve?ref=detector@production`` with a bearer token.
- MLflow: ``mlflow server`` with its default workers,
  ``GET /api/2.0/mlflow/registered-models/alias?name=detector&alias=production``.
  MLflow lives in its own virtualenv (``.venv-bench``, from ``locks/bench.txt``),
  never in the project's; if it cannot be installed or started, the results
  say so and hold the Pitlane numbers alone.

Load: several generator processes (asyncio, a minimal HTTP/1.1 keep-alive
client so that the generator costs little) run 16 concurrent clients in a
closed loop for throughput; then an open loop offers 100 requests/s on a
fixed schedule (latency counted from the scheduled send time, so a stall is
not hidden by coordinated omission). Each generator reports its CPU time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.services import free_port  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "registry.json"
MLFLOW_VENV = ROOT / ".venv-bench"
PACKAGE = "detector"


# --- load generation ----------------------------------------------------------
async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> int:
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def _closed_loop(host: str, port: int, raw: bytes, clients: int, seconds: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            status = await _request(reader, writer, raw)
            latencies.append(time.perf_counter() - t0)
            errors += status != 200
        writer.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, errors


async def _open_loop(
    host: str, port: int, raw: bytes, rate: float, seconds: float, conns: int
) -> tuple[list[float], int]:
    """Send at a fixed rate; latency runs from the scheduled time (no coordinated omission)."""
    latencies: list[float] = []
    errors = 0
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(conns):
        r, w = await asyncio.open_connection(host, port)
        w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pool.put_nowait((r, w))
    start = time.perf_counter() + 0.05
    n = int(rate * seconds)

    async def one(i: int) -> None:
        nonlocal errors
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        r, w = await pool.get()
        status = await _request(r, w, raw)
        pool.put_nowait((r, w))
        latencies.append(time.perf_counter() - scheduled)
        errors += status != 200

    await asyncio.gather(*(one(i) for i in range(n)))
    while not pool.empty():
        pool.get_nowait()[1].close()
    return latencies, errors


def _generator(
    kind: str, host: str, port: int, raw: bytes, share: float, seconds: float, conns: int, queue: Any
) -> None:
    t_cpu = time.process_time()
    t0 = time.perf_counter()
    if kind == "closed":
        lat, err = asyncio.run(_closed_loop(host, port, raw, int(share), seconds))
    else:
        lat, err = asyncio.run(_open_loop(host, port, raw, share, seconds, conns))
    wall = time.perf_counter() - t0
    queue.put({"latencies": lat, "errors": err, "cpu_s": time.process_time() - t_cpu, "wall_s": wall})


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _proc_cpu(pids: list[int]) -> float:
    """User+system CPU seconds of processes (and their children) from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def _tree(pid: int) -> list[int]:
    out = [pid]
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        kids = []
    for k in kids:
        out.extend(_tree(int(k)))
    return out


def load(
    kind: str,
    url_path: str,
    headers: dict[str, str],
    port: int,
    server_pid: int,
    *,
    procs: int,
    clients: int = 16,
    rate: float = 100.0,
    seconds: float,
) -> dict[str, Any]:
    """Run one load phase with ``procs`` generator processes; summarize latency, throughput and CPU."""
    host = "127.0.0.1"
    raw = (
        f"GET {url_path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        + "\r\n"
    ).encode()
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    if kind == "closed":
        shares: list[float] = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
        conns = 0
    else:
        shares = [rate / procs] * procs
        conns = 8
    server_pids = _tree(server_pid)
    cpu0 = _proc_cpu(server_pids)
    t0 = time.perf_counter()
    workers = [ctx.Process(target=_generator, args=(kind, host, port, raw, s, seconds, conns, queue)) for s in shares]
    for w in workers:
        w.start()
    parts = [queue.get() for _ in workers]
    for w in workers:
        w.join()
    wall = time.perf_counter() - t0
    server_cpu = _proc_cpu(server_pids) - cpu0
    lat = [x for p in parts for x in p["latencies"]]
    errors = sum(p["errors"] for p in parts)
    gen_wall = max(p["wall_s"] for p in parts)
    return {
        "mode": "closed loop" if kind == "closed" else "open loop",
        "concurrent_clients": clients if kind == "closed" else None,
        "offered_rps": rate if kind == "open" else None,
        "requests": len(lat),
        "errors": errors,
        "requests_per_s": round(len(lat) / gen_wall, 1),
        "p50_ms": round(_pct(lat, 0.50) * 1000, 2),
        "p99_ms": round(_pct(lat, 0.99) * 1000, 2),
        "mean_ms": round(statistics.fmean(lat) * 1000, 2) if lat else None,
        "generator_processes": len(parts),
        "generator_cpu_percent": [round(100 * p["cpu_s"] / p["wall_s"], 1) for p in parts],
        "server_cpu_percent": round(100 * server_cpu / wall, 1),
        # Other work on this shared machine: the 1-minute load average when the phase ended.
        "machine_load_average": round(os.getloadavg()[0], 2),
    }


# --- servers ------------------------------------------------------------------
def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server and every process it started (MLflow's gunicorn/uvicorn workers)."""
    import signal

    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        pgid = None
    own_group = pgid is not None and pgid != os.getpgid(0)
    if own_group and pgid is not None:
        os.killpg(pgid, signal.SIGTERM)
    else:
        proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        if own_group and pgid is not None:
            os.killpg(pgid, signal.SIGKILL)
        proc.kill()
        proc.wait()


def seed_pitlane(db_url: str, versions: int) -> str:
    """N versions (one file each) and channels, written in bulk; returns an admin token."""
    import hashlib

    from sqlalchemy import insert, select

    from registry.core.db import Database
    from registry.core.migrate import upgrade
    from registry.models import PackageFile, PackageVersion, utcnow
    from registry.services import access
    from registry.services import packages as svc
    from registry.services.tokens import bootstrap_admin

    db = Database(db_url)
    upgrade(db.engine)
    with db.transaction() as s:
        token = bootstrap_admin(s).token
        admin = svc.system_principal("bench")
        access.create_project(s, admin, "perception")
        pkg, _ = svc.create_package(s, admin, "perception", PACKAGE)
        now = utcnow()
        rows = []
        for i in range(versions):
            files = [svc.FileSpec("model.pt", hashlib.md5(str(i).encode()).hexdigest(), 1000 + i, "")]
            rows.append(
                {
                    "package_id": pkg.id,
                    "version": f"v1.{i // 100}.{i % 100}",
                    "content_hash": svc.content_hash(files, None),
                    "manifest": {},
                    "created_at": now,
                    "created_by": "bench",
                    "commit": None,
                    "tag": None,
                }
            )
        s.execute(insert(PackageVersion), rows)
        ids = dict(
            s.execute(
                select(PackageVersion.version, PackageVersion.id).where(PackageVersion.package_id == pkg.id)
            ).all()
        )
        s.execute(
            insert(PackageFile),
            [
                {
                    "version_id": vid,
                    "path": "model.pt",
                    "md5": hashlib.md5(v.encode()).hexdigest(),
                    "size": 1000,
                    "url": "",
                }
                for v, vid in ids.items()
            ],
        )
        svc.set_channel(s, admin, pkg, "production", f"v1.{(versions // 2) // 100}.{(versions // 2) % 100}")
        svc.set_channel(s, admin, pkg, "staging", f"v1.{(versions - 1) // 100}.{(versions - 1) % 100}")
    db.dispose()
    return token


@dataclass
class Target:
    """A started server and the request that resolves the production channel on it."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    path: str
    headers: dict[str, str]
    meta: dict[str, Any]


def start_pitlane(work: Path, versions: int, server_procs: int) -> Target:
    db_url = f"sqlite:///{work / 'pitlane.db'}"
    t0 = time.perf_counter()
    token = seed_pitlane(db_url, versions)
    seeded = time.perf_counter() - t0
    port = free_port()
    env = {**os.environ, "PITLANE_DATABASE_URL": db_url, "PITLANE_HOME": str(work / "home")}
    launcher = (
        "import sys; from registry.main import create_app; from registry.serving import serve_processes; "
        "serve_processes(create_app, '127.0.0.1', int(sys.argv[1]), int(sys.argv[2]))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", launcher, str(port), str(server_procs)], env=env, cwd=ROOT, start_new_session=True
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/api/v1/health", proc)
    except BaseException:
        stop(proc)
        raise
    meta = {
        "server": f"pitlane registry: {server_procs} single-worker uvicorn process(es), SO_REUSEPORT, SQLite",
        "seed_s": round(seeded, 1),
    }
    path = f"/api/v1/resolve?ref={PACKAGE}@production"
    return Target("pitlane", proc, port, path, {"Authorization": f"Bearer {token}"}, meta)


MLFLOW_SEED = r"""
import sqlite3, sys, time
from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore
url, n = sys.argv[1], int(sys.argv[2])
store = SqlAlchemyStore(url)
store.create_registered_model("detector")
store.create_model_version("detector", source="s3://models/detector/1", run_id=None)
# Version 1 went through MLflow's own store; the other rows are copies of it (one store call per
# version would take minutes), then the alias is set through the store again.
db = sqlite3.connect(url.removeprefix("sqlite:///"))
cols = [r[1] for r in db.execute("PRAGMA table_info(model_versions)")]
row = dict(zip(cols, db.execute("SELECT * FROM model_versions WHERE version = 1").fetchone()))
rows = []
for i in range(2, n + 1):
    r = dict(row, version=i)
    if "source" in r:
        r["source"] = f"s3://models/detector/{i}"
    if "storage_location" in r and r["storage_location"]:
        r["storage_location"] = f"s3://models/detector/{i}"
    rows.append(tuple(r[c] for c in cols))
db.executemany(f"INSERT INTO model_versions ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", rows)
db.commit()
store.set_registered_model_alias("detector", "production", str(n // 2))
print(db.execute("SELECT count(*) FROM model_versions").fetchone()[0])
"""


def mlflow_bin() -> Path | None:
    exe = MLFLOW_VENV / "bin" / "mlflow"
    return exe if exe.exists() else None


def start_mlflow(work: Path, versions: int) -> Target | str:
    """The MLflow server with the same data, or why it cannot run here."""
    exe = mlflow_bin()
    if exe is None:
        return "MLflow is not installed: run `bash scripts/bench-venv.sh` (from locks/bench.txt)"
    py = str(MLFLOW_VENV / "bin" / "python")
    store = f"sqlite:///{work / 'mlflow.db'}"
    version = subprocess.run(
        [py, "-c", "import mlflow; print(mlflow.__version__)"], capture_output=True, text=True
    ).stdout.strip()
    t0 = time.perf_counter()
    seeded = subprocess.run([py, "-c", MLFLOW_SEED, store, str(versions)], capture_output=True, text=True)
    if seeded.returncode != 0:
        return f"MLflow seeding failed: {seeded.stderr.strip().splitlines()[-1:]}"
    seed_s = time.perf_counter() - t0
    port = free_port()
    # Job execution off: it only spawns background consumers (huey) that compete for the CPU.
    env = {
        **os.environ,
        "MLFLOW_ENABLE_TELEMETRY": "false",
        "DO_NOT_TRACK": "1",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    proc = subprocess.Popen(
        [
            str(exe),
            "server",
            "--backend-store-uri",
            store,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--artifacts-destination",
            str(work / "mlartifacts"),
        ],
        env=env,
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: stop() ends every worker it forks
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc, timeout=600)
    except RuntimeError as exc:
        stop(proc)
        return f"mlflow server failed: {exc}"
    meta = {
        "server": f"mlflow server {version} (default workers, job execution off), SQLite",
        "seed_s": round(seed_s, 1),
    }
    path = f"/api/2.0/mlflow/registered-models/alias?name={PACKAGE}&alias=production"
    return Target("mlflow", proc, port, path, {}, meta)


def run_resolve_bench(
    versions: int = 10_000, seconds: float = 10.0, procs: int = 4, server_procs: int = 2, rounds: int = 2
) -> dict[str, Any]:
    """The registry's part of the benchmark, as a function other bench scripts can call.

    Both servers run at once and the phases alternate between them (``rounds`` times), so that
    other work on a shared machine weighs on both alike; the summary takes the median round.
    """
    work = Path(tempfile.mkdtemp(prefix="pitlane-bench-registry-"))
    targets: list[Target] = []
    result: dict[str, Any] = {}
    try:
        targets.append(start_pitlane(work, versions, server_procs))
        other = start_mlflow(work, versions)
        if isinstance(other, str):
            result["mlflow"] = {"skipped": other}
        else:
            targets.append(other)
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {
            t.name: {"closed_16": [], "open_100rps": []} for t in targets
        }
        for t in targets:
            load("closed", t.path, t.headers, t.port, t.proc.pid, procs=procs, seconds=2)  # warm-up
        for _ in range(rounds):
            for phase, kind in (("closed_16", "closed"), ("open_100rps", "open")):
                for t in targets:
                    runs[t.name][phase].append(
                        load(kind, t.path, t.headers, t.port, t.proc.pid, procs=procs, seconds=seconds)
                    )
        for t in targets:
            summary: dict[str, Any] = {**t.meta, "query": t.path}
            for phase, key in (("closed_16", "requests_per_s"), ("open_100rps", "p99_ms")):
                ordered = sorted(runs[t.name][phase], key=lambda r, k=key: r[k])  # type: ignore[misc]
                summary[phase] = (
                    ordered[len(ordered) // 2] if phase == "closed_16" else ordered[(len(ordered) - 1) // 2]
                )
                summary[f"{phase}_rounds"] = runs[t.name][phase]
            result[t.name] = summary
    finally:
        for t in targets:
            stop(t.proc)
        shutil.rmtree(work, ignore_errors=True)
    ours = result["pitlane"]
    theirs = result.get("mlflow", {})
    if "closed_16" in theirs:
        ratio = ours["closed_16"]["requests_per_s"] / max(theirs["closed_16"]["requests_per_s"], 1e-9)
        result["ratio_rps_vs_mlflow_at_16_clients"] = round(ratio, 2)
        result["target_rps_ratio_met"] = ratio >= 5
    result["target_p99_under_10ms_at_100rps_met"] = ours["open_100rps"]["p99_ms"] < 10
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--procs", type=int, default=4, help="load-generator processes")
    parser.add_argument("--server-procs", type=int, default=2, help="pitlane single-worker server processes")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per phase (median reported)")
    args = parser.parse_args()
    result = run_resolve_bench(args.versions, args.seconds, args.procs, args.server_procs, args.rounds)
    doc = {
        "benchmark": "registry resolve NAME@CHANNEL vs MLflow get-model-version-by-alias",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_at_start": os.getloadavg(),
        },
        "versions": args.versions,
        "seconds_per_phase": args.seconds,
        **result,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
