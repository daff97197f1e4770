"""Benchmarks of derived signals and events: ingest cost, event search latency, detector accuracy.

Run: ``.venv/bin/python bench/events.py [--size-mb 1024] [--bags 100000]``; writes
``bench/results/events.json``.

1. Ingest with signals vs without, on one generated ROS 1 bag of ``--size-mb`` whose
   IMU (100 Hz) and odometry (50 Hz) are about 1 % of the bytes (the rest: a 10 Hz
   "lidar" topic of large messages that is never decoded). Timed: the index phase
   (index + md5/sha256, what every ingest pays) alone vs index + signals + events +
   Parquet; and a real ``add_bags`` (with ``dvc add`` and commit) both ways. Target ≤ 1.3×.
2. Event search: a catalog of ``--bags`` bags with 50 events each (vehicle and health
   kinds, health events on one of 8 topics), inserted through ``Catalog.upsert``; each query
   timed 30 times (p50/p95). SQLite only here (no PostgreSQL server on this machine).
3. Accuracy: precision/recall per detector on the generated drives of tests/data/drives.py.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from toolkit.bags.summary import BagFormat, BagSummary, TopicInfo  # noqa: E402
from toolkit.data.catalog import Catalog  # noqa: E402
from toolkit.data.eventmodel import BagEvent, SignalsInfo  # noqa: E402
from toolkit.data.search import search  # noqa: E402
from toolkit.data.sidecar import Sidecar, bag_id  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "events.json"
S = 1_000_000_000


# --- 1. ingest ---------------------------------------------------------------------------
def write_big_bag(path: Path, size_mb: int) -> dict[str, Any]:
    from rosbags.rosbag1 import Writer

    from tests.data.drives import IMU, ODOM, _Msgs

    m = _Msgs(ros1=True)
    blob_size = 750_000  # 10 Hz x 750 kB = 7.5 MB/s of "lidar"
    seconds = max(5, size_mb * 1_000_000 // (blob_size * 10))
    blob = os.urandom(blob_size)
    t0 = 1_735_689_600 * S
    decoded_bytes = 0
    with Writer(path) as w:
        lidar = w.add_connection("/sensing/lidar/top/points", "std_msgs/msg/String", typestore=m.store)
        imu = w.add_connection("/imu/data", IMU, typestore=m.store)
        odom = w.add_connection("/odom", ODOM, typestore=m.store)
        for k in range(seconds * 100):
            t = t0 + k * 10_000_000
            v = 10 + 5 * ((k // 500) % 2)
            data = m.serialize(m.imu(t, 0.1, 0.01), IMU)
            w.write(imu, t, data)
            decoded_bytes += len(data)
            if k % 2 == 0:
                data = m.serialize(m.odom(t, float(v), 0.01), ODOM)
                w.write(odom, t, data)
                decoded_bytes += len(data)
            if k % 10 == 0:
                w.write(lidar, t, blob)
    size = path.stat().st_size
    return {"bytes": size, "seconds": seconds, "decoded_share": round(decoded_bytes / size, 4)}


def bench_ingest(size_mb: int, repeats: int) -> dict[str, Any]:
    from toolkit.data.derive import derive
    from toolkit.data.events import EventsConfig
    from toolkit.data.ingest import add_bags, index_bag
    from toolkit.data.repo import init_repo

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        bag = Path(tmp) / "big.bag"
        out["bag"] = write_big_bag(bag, size_mb)
        plain, derived = [], []
        for _ in range(repeats):
            t = time.perf_counter()
            summary = index_bag(str(bag))
            plain.append(time.perf_counter() - t)
            t = time.perf_counter()
            summary = index_bag(str(bag))
            derive(bag, summary, EventsConfig(), "big.bag.signals.parquet")
            derived.append(time.perf_counter() - t)
        out["index_phase_s"] = {"without_signals": round(min(plain), 3), "with_signals": round(min(derived), 3)}
        out["index_phase_ratio"] = round(min(derived) / min(plain), 3)
        full = {}
        for signals in (False, True):
            repo = init_repo(Path(tmp) / f"repo_{signals}")
            target = repo.root / "bags" / "big.bag"
            target.write_bytes(bag.read_bytes())
            t = time.perf_counter()
            report = add_bags(repo, [target], signals=signals)
            full["with_signals" if signals else "without_signals"] = round(time.perf_counter() - t, 3)
            assert report.added, report.failed
            repo.close()
        out["add_bags_s"] = full
        out["add_bags_ratio"] = round(full["with_signals"] / full["without_signals"], 3)
    return out


# --- 2. event search -----------------------------------------------------------------------
VEHICLE = ["hard_brake", "stop", "sharp_turn", "speed_band", "gnss_dropout"]
HEALTH = ["gap", "rate_drop", "late", "out_of_order", "zero_size"]
TOPICS = [
    "/sensing/lidar/top/points",
    "/sensing/lidar/left/points",
    "/sensing/lidar/right/points",
    "/sensing/camera/front/image_raw",
    "/sensing/camera/rear/image_raw",
    "/sensing/imu/data",
    "/sensing/gnss/fix",
    "/vehicle/status/velocity",
]


def make_record(i: int, rng: random.Random) -> Sidecar:
    path = f"bags/drive_{i:06d}.mcap"
    sha = hashlib.sha256(path.encode()).hexdigest()
    start = 1_704_067_200 * S + i * 600 * S
    duration = rng.randint(60, 1800)
    # Kinds are not equally common: gnss_dropout and out_of_order are rare, stops and gaps common.
    weights = [8, 20, 10, 20, 0.3, 25, 8, 5, 0.3, 3]
    events = []
    for _ in range(50):
        kind = rng.choices(VEHICLE + HEALTH, weights)[0]
        a = start + rng.randint(0, duration - 5) * S
        topic = rng.choice(TOPICS) if kind in HEALTH else ""
        events.append(BagEvent(kind=kind, start_ns=a, end_ns=a + rng.randint(1, 5) * S, value=-4.0, topic=topic))
    speed = rng.uniform(0, 35)
    summary = BagSummary(
        path=path,
        format=BagFormat.MCAP,
        files=[path],
        size_bytes=rng.randint(10**8, 10**10),
        sha256=sha,
        start_ns=start,
        end_ns=start + duration * S,
        message_count=duration * 500,
        topics=[TopicInfo(name=t, type="sensor_msgs/msg/PointCloud2", count=duration * 10) for t in TOPICS],
    )
    return Sidecar(
        id=bag_id(sha),
        path=path,
        summary=summary,
        tags={"vehicle": f"odaiba-{i % 20}"},
        signals=SignalsInfo(file=path + ".signals.parquet", max_speed_mps=speed, min_speed_mps=0.0),
        events=events,
    )


QUERIES = [
    "event:hard_brake",
    "event:gnss_dropout",
    "event:gap topic:/sensing/lidar/*",
    "event:out_of_order topic:/sensing/imu/data",
    "event:hard_brake vehicle:odaiba-3",
    "event:gnss_dropout vehicle:odaiba-3 after:2024-06-01",
    "speed>100kmh",
    "speed>100kmh event:hard_brake",
    "-event:stop",
]


def bench_search(n_bags: int, runs: int = 30) -> dict[str, Any]:
    rng = random.Random(7)
    out: dict[str, Any] = {"bags": n_bags, "events_per_bag": 50}
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        catalog = Catalog.open(Path(tmp) / "catalog.db")
        t = time.perf_counter()
        for start in range(0, n_bags, 1000):
            catalog.upsert([make_record(i, rng) for i in range(start, min(n_bags, start + 1000))])
        catalog.analyze()
        out["load_s"] = round(time.perf_counter() - t, 1)
        per_query = {}
        for q in QUERIES:
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                resp = search(catalog, q, limit=50)
                times.append((time.perf_counter() - t) * 1000)
            times.sort()
            per_query[q] = {
                "p50_ms": round(statistics.median(times), 2),
                "p95_ms": round(times[int(0.95 * (len(times) - 1))], 2),
                "results": len(resp.results),
                "event_hits": sum(len(r.events) for r in resp.results),
            }
        out["queries"] = per_query
        out["overall_p95_ms"] = max(v["p95_ms"] for v in per_query.values())
        catalog.close()
    return out


# --- 3. accuracy ---------------------------------------------------------------------------
def bench_accuracy() -> dict[str, Any]:
    from tests.data.drives import health_truth, random_drive, vehicle_truth, write_drive
    from tests.data.test_events import _match
    from toolkit.bags.signals import extract, resample
    from toolkit.data.events import KINDS, EventsConfig, health_events, vehicle_events

    cfg = EventsConfig()
    counts = {k: [0, 0, 0] for k in KINDS}
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, seed, t0 in [("ros1", 11, 0), ("ros2", 12, 1_735_689_600 * S), ("mcap", 13, 1_735_689_600 * S)]:
            drive = random_drive(seed, t0)
            bag = write_drive(drive, Path(tmp) / (f"d_{fmt}.bag" if fmt == "ros1" else f"d_{fmt}"), fmt)
            ex = extract(bag)
            found = vehicle_events(resample(ex, cfg.period_ns), cfg) + health_events(ex, cfg)
            truth = vehicle_truth(drive, cfg) + health_truth(drive)
            for k in KINDS:
                hits, missed, extra = _match([e for e in found if e.kind == k], [g for g in truth if g.kind == k])
                counts[k][0] += hits
                counts[k][1] += len(missed)
                counts[k][2] += len(extra)
    return {
        k: {"truth": tp + fn, "precision": round(tp / max(tp + fp, 1), 3), "recall": round(tp / max(tp + fn, 1), 3)}
        for k, (tp, fn, fp) in counts.items()
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--bags", type=int, default=100_000)
    ap.add_argument("--skip", nargs="*", default=[], choices=["ingest", "search", "accuracy"])
    args = ap.parse_args()
    # A partial run (--skip) keeps the other parts of the previous results.
    result: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    result["machine"] = {"cpus": os.cpu_count(), "loadavg_start": os.getloadavg()}
    if "accuracy" not in args.skip:
        result["accuracy"] = bench_accuracy()
        print(json.dumps(result["accuracy"]), flush=True)
    if "ingest" not in args.skip:
        result["ingest"] = bench_ingest(args.size_mb, args.repeats)
        print(json.dumps(result["ingest"]), flush=True)
    if "search" not in args.skip:
        result["search"] = bench_search(args.bags)
        print(json.dumps(result["search"]), flush=True)
    result["machine"]["loadavg_end"] = os.getloadavg()
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
