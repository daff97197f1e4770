"""Benchmark: the local workflow harness and the run executors against their plain alternatives.

Run: ``.venv/bin/python bench/ci.py [--steps 50] [--jobs 5] [--no-ray]``; writes ``bench/results/ci.json``.

- harness: one job of N ``run:`` steps (each with an expression, an output and an env
  variable) through ``pitlane``'s harness, vs the same N scripts run one after another by
  plain ``bash --noprofile --norc -eo pipefail`` (what a GitHub runner executes per step; ``act``
  needs Docker, which is not here). The ratio is the harness's cost per step over bash's.
- executors: a trivial job (``python -c pass``) submitted and polled to completion through the
  local executor and through Ray Jobs on a fresh local Ray head, vs running the same command as a
  plain subprocess. Also the Ray head's start-up time (``ray start --head`` until the Jobs API answers).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from registry.executors import JobResources, JobSpec, JobState  # noqa: E402
from registry.executors.local import LocalExecutor  # noqa: E402
from tests.services.ray import local_ray_head  # noqa: E402
from toolkit.ci import RunOptions, run_workflow  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "ci.json"


def bench_harness(steps: int, work: Path) -> dict[str, float]:
    ws = work / "ws"
    (ws / ".github" / "workflows").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    lines = ["on: push", "env:", "  BASE: x", "jobs:", "  j:", "    runs-on: ubuntu-latest", "    steps:"]
    scripts = []
    for i in range(steps):
        script = f'echo "v{i}=$BASE-{i}" >> "$GITHUB_OUTPUT"'
        scripts.append(script)
        lines += [
            f"      - id: s{i}",
            "        if: github.event_name == 'push' && !startsWith(github.ref, 'refs/tags/')",
            f"        run: {script}",
        ]
    (ws / ".github" / "workflows" / "w.yml").write_text("\n".join(lines) + "\n")
    start = time.perf_counter()
    run = run_workflow(ws / ".github" / "workflows" / "w.yml", None, RunOptions(workspace=ws, log=lambda _: None))
    harness_s = time.perf_counter() - start
    assert run.ok and run.jobs["j"].steps[-1].outputs == {f"v{steps - 1}": f"x-{steps - 1}"}

    out = work / "out"
    out.write_text("")
    env = {**os.environ, "GITHUB_OUTPUT": str(out), "BASE": "x"}
    files = []
    for i, script in enumerate(scripts):
        f = work / f"s{i}.sh"
        f.write_text(script)
        files.append(f)
    start = time.perf_counter()
    for f in files:
        subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(f)], env=env, cwd=ws, check=True)
    bash_s = time.perf_counter() - start
    return {
        "steps": steps,
        "harness_s": round(harness_s, 3),
        "plain_bash_s": round(bash_s, 3),
        "harness_ms_per_step": round(harness_s / steps * 1000, 2),
        "bash_ms_per_step": round(bash_s / steps * 1000, 2),
        "ratio_harness_vs_bash": round(harness_s / bash_s, 2),
    }


def _wait(ex: object, job: str, timeout: float = 300) -> float:
    start = time.perf_counter()
    while True:
        st = ex.status(job)  # type: ignore[attr-defined]
        if st.state.terminal:
            assert st.state is JobState.succeeded, st
            return time.perf_counter() - start
        if time.perf_counter() - start > timeout:
            raise RuntimeError(f"job {job} still {st}")
        time.sleep(0.1)


def bench_executors(jobs: int, work: Path, with_ray: bool) -> dict[str, object]:
    argv = [sys.executable, "-c", "pass"]
    plain = []
    for _ in range(jobs):
        start = time.perf_counter()
        subprocess.run(argv, check=True)
        plain.append(time.perf_counter() - start)
    local = LocalExecutor(work / "local-state")
    local_s = []
    for i in range(jobs):
        d = work / f"local{i}"
        d.mkdir()
        start = time.perf_counter()
        job = local.submit(JobSpec(i, d, argv))
        _wait(local, job)
        local_s.append(time.perf_counter() - start)
    result: dict[str, object] = {
        "jobs": jobs,
        "plain_subprocess_s": round(min(plain), 3),
        "local_executor_s": round(min(local_s), 3),
        "ratio_local_vs_plain": round(min(local_s) / min(plain), 2),
    }
    if not with_ray:
        return result
    from registry.executors.ray import RayExecutor

    with local_ray_head("rayb", timeout_s=180) as head:
        ex = RayExecutor(head.address)
        ray_s = []
        for i in range(jobs):
            start = time.perf_counter()
            job = ex.submit(JobSpec(i, work, argv, {}, JobResources(cpu=1)))
            _wait(ex, job)
            ray_s.append(time.perf_counter() - start)
    shutil.rmtree(head.temp_dir, ignore_errors=True)
    head_s = head.start_seconds
    result.update(
        {
            "ray_head_start_s": round(head_s, 2),
            "ray_first_job_s": round(ray_s[0], 3),
            "ray_job_s": round(min(ray_s), 3),
            "ratio_ray_vs_plain": round(min(ray_s) / min(plain), 1),
            "ratio_ray_vs_local": round(min(ray_s) / min(local_s), 1),
        }
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=5)
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pitlane-bench-ci-") as tmp:
        work = Path(tmp)
        (work / "h").mkdir()
        (work / "e").mkdir()
        results = {
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
            },
            "harness": bench_harness(args.steps, work / "h"),
            "executors": bench_executors(args.jobs, work / "e", not args.no_ray),
        }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
