"""The train stage inside the experiment image versus on the host, and the image build after a src/ change.

1. Train: one experiment repo from the real template (one fixture bag, seed 7,
   200 steps, a checkpoint every 10), built and run once with ``pitlane run``
   (so the image exists). Then the train stage command itself
   (``python -m toolkit.experiment.stage train``) runs alternately in the
   container and on the host (``PITLANE_CONTAINER_ENGINE=none``): same data,
   same seed, same weights. Judged on the median of per-round ratios (this VM's
   speed drifts between rounds). Target ratio <= 1.05.
2. Build: append a comment to src/predictor.py and time the build stage
   (``python src/build.py``: wheelhouse check, pitlane wheel from cache, podman
   build with a warm layer cache, fingerprint inside the new image).

Needs podman and the base image (scripts/base-image.sh). The first build of an
image fills the layer cache (minutes: the locked install); it is not timed.

Run: .venv/bin/python bench/container.py [--quick]
Writes bench/results/container.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
BAG = ROOT / "tests" / "fixtures" / "bags" / "sensors" / "spot_cameras_raw.bag"
RESULTS = ROOT / "bench" / "results" / "container.json"


def _env(home: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(home),
        "XDG_CACHE_HOME": os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache"),
        "DVC_NO_ANALYTICS": "1",
        "GIT_CONFIG_NOSYSTEM": "1",
        **extra,
    }


def _timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}:\n{done.stdout}\n{done.stderr}")
    return elapsed, done.stdout + done.stderr


def make_repo(base: Path, steps: int, env: dict[str, str]) -> Path:
    repo = base / "exp"
    pitlane = str(VENV_BIN / "pitlane")
    init = [pitlane, "init", str(repo), "--data", f"raw={BAG}", "--name", "benchcontainer", "--seed", "7"]
    _timed([*init, "--max-steps", str(steps)], base, env)
    _, out = _timed([pitlane, "run"], repo, env)
    assert "train: in container" in out, out
    return repo


def bench_train(repo: Path, rounds: int, env: dict[str, str]) -> dict[str, Any]:
    stage = [sys.executable, "-m", "toolkit.experiment.stage", "train"]
    sides = {"container": env, "host": {**env, "PITLANE_CONTAINER_ENGINE": "none"}}
    samples: dict[str, list[float]] = {"container": [], "host": []}
    weights: dict[str, str] = {}
    for round_no in range(rounds):
        order = ["container", "host"] if round_no % 2 == 0 else ["host", "container"]
        for side in order:
            t, out = _timed(stage, repo, sides[side])
            assert ("train: in container" in out) == (side == "container"), out
            samples[side].append(t)
            record = json.loads((repo / "run.json").read_text())
            assert record["runtime"]["where"] == side
            weights[side] = subprocess.run(
                ["sha256sum", "models/model.pt"], cwd=repo, capture_output=True, text=True
            ).stdout.split()[0]
    container_s, host_s = statistics.median(samples["container"]), statistics.median(samples["host"])
    ratios = [c / h for c, h in zip(samples["container"], samples["host"], strict=True)]
    return {
        "steps": json.loads((repo / "run.json").read_text())["training"]["global_step"],
        "container_s": round(container_s, 3),
        "host_s": round(host_s, 3),
        "ratio": round(statistics.median(ratios), 3),
        "ratio_of_medians": round(container_s / host_s, 3),
        "ratio_of_fastest": round(min(samples["container"]) / min(samples["host"]), 3),
        "target_ratio": 1.05,
        "same_weights": weights["container"] == weights["host"],
        "rounds": rounds,
        "container_samples_s": [round(t, 3) for t in samples["container"]],
        "host_samples_s": [round(t, 3) for t in samples["host"]],
    }


def bench_build(repo: Path, rounds: int, env: dict[str, str]) -> dict[str, Any]:
    times = []
    for i in range(rounds):
        predictor = repo / "src" / "predictor.py"
        predictor.write_text(predictor.read_text() + f"\n# bench change {i}\n")
        t, out = _timed([sys.executable, "src/build.py"], repo, env)
        assert "Using cache" in out, out
        times.append(t)
    return {
        "build_after_src_change_s": round(statistics.median(times), 3),
        "samples_s": [round(t, 3) for t in times],
        "includes": "wheelhouse check, cached pitlane wheel, podman build (warm layer cache), fingerprint in the image",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and steps (a smoke run)")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "benchmark": "container",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg_start": os.getloadavg()},
    }
    with tempfile.TemporaryDirectory(prefix="pitlane-bench-") as tmp:
        base = Path(tmp)
        home = base / "home"
        home.mkdir()
        (home / ".gitconfig").write_text("[user]\n\tname = Bench\n\temail = bench@pitlane.local\n")
        env = _env(home)
        repo = make_repo(base, 100 if args.quick else 200, env)
        results["train"] = bench_train(repo, 3 if args.quick else 7, env)
        results["build"] = bench_build(repo, 2 if args.quick else 3, env)
    results["machine"]["load_avg_end"] = os.getloadavg()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    train, build = results["train"], results["build"]
    print(
        f"train {train['steps']} steps: container {train['container_s']:.2f}s, host {train['host_s']:.2f}s, "
        f"ratio {train['ratio']:.3f} (target <= 1.05); "
        f"build after a src/ change {build['build_after_src_change_s']:.1f}s"
    )


if __name__ == "__main__":
    main()
