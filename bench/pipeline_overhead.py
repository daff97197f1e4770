"""Overhead of `pitlane run` over plain `dvc repro`, and of the resumable training loop over plain Lightning.

1. No-op pipeline: an experiment repo from the real template with 3 and 300
   process tasks (one per dataset), fully reproduced once; then `dvc repro`
   and `pitlane run` are timed alternately on the up-to-date pipeline (median
   of several rounds). Stage bodies are swapped for cheap shell commands while
   the repo is built: a no-op never runs them, only the DAG size matters, and
   300 real decode tasks would take many minutes. Target ratio <= 1.2.
2. Training loop: the template's model on patches from a fixture bag, the same
   steps and checkpoint interval, through toolkit.experiment.training.fit
   (epoch-seeded resumable sampler, RNG-state callback, atomic checkpoint
   writes) versus a plain Lightning Trainer (shuffling DataLoader, stock
   ModelCheckpoint). Target ratio <= 1.05.

Both parts alternate the two sides round by round and judge the median of the
per-round ratios: on this VM identical runs differ by up to 50 % over a minute,
which a pair run back to back mostly shares. Medians, fastest runs and (for
training) CPU time are recorded beside it.

Run: .venv/bin/python bench/pipeline_overhead.py [--quick]
Writes bench/results/pipeline_overhead.json.
"""

from __future__ import annotations

import argparse
import importlib.util
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
RESULTS = ROOT / "bench" / "results" / "pipeline_overhead.json"
# Writes each stage's declared outputs without doing the work.
FAKE_STAGE = """set -e
case "$1" in
  build) mkdir -p build && echo '{}' > build/env.json ;;
  process) mkdir -p "data/processed/$2" && echo "$2" > "data/processed/$2/x" ;;
  train) mkdir -p models dvclive/plots/metrics && echo 1 > models/m && echo '{}' > run.json
         echo '{"acc": 1}' > dvclive/metrics.json && printf 'step\\tacc\\n0\\t1\\n' > dvclive/plots/metrics/acc.tsv ;;
esac
"""


def _env(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(home),
        "DVC_NO_ANALYTICS": "1",
        "GIT_CONFIG_NOSYSTEM": "1",
    }


def _timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}:\n{done.stdout}\n{done.stderr}")
    return elapsed, done.stdout + done.stderr


def build_repo(base: Path, tasks: int, env: dict[str, str]) -> Path:
    from toolkit.experiment.scaffold import init_experiment

    repo = base / f"exp-{tasks}"
    data = [f"d{i:03d}={BAG}" for i in range(tasks)]
    old_home = os.environ.get("HOME")
    os.environ["HOME"] = env["HOME"]
    try:
        init_experiment(repo, data=data, name=f"bench{tasks}")
    finally:
        if old_home is not None:
            os.environ["HOME"] = old_home
    (repo / "fake_stage.sh").write_text(FAKE_STAGE)
    dvc_yaml = repo / "dvc.yaml"
    text = dvc_yaml.read_text()
    text = text.replace("cmd: python src/build.py", "cmd: sh fake_stage.sh build")
    stage = "cmd: python -m toolkit.experiment.stage"
    text = text.replace(f"{stage} process ${{key}}", "cmd: sh fake_stage.sh process ${key}")
    text = text.replace(f"{stage} train", "cmd: sh fake_stage.sh train")
    dvc_yaml.write_text(text)
    subprocess.run(["git", "add", "fake_stage.sh"], cwd=repo, env=env, check=True)
    subprocess.run(["git", "commit", "-qam", "bench: cheap stage bodies"], cwd=repo, env=env, check=True)
    # Produce every output, then let DVC record them all at once: `dvc repro` would rewrite dvc.lock
    # after each of the 302 stages (quadratic, ~25 min on this shared 2-core machine).
    for args in (["build"], *(["process", f"d{i:03d}"] for i in range(tasks)), ["train"]):
        subprocess.run(["sh", "fake_stage.sh", *args], cwd=repo, env=env, check=True)
    _timed([str(VENV_BIN / "dvc"), "commit", "--force"], repo, env)
    return repo


def bench_noop(tasks: int, rounds: int, base: Path, env: dict[str, str]) -> dict[str, Any]:
    repo = build_repo(base, tasks, env)
    pitlane = [str(VENV_BIN / "pitlane"), "run"]
    dvc = [str(VENV_BIN / "dvc"), "repro"]
    # Steady state is timed: compose once (Hydra) so `pitlane run` finds its compose cache filled.
    from toolkit.experiment.compose import compose

    compose(repo)
    # The same run without the `pitlane` CLI: the CLI imports every command module at start-up.
    core = [sys.executable, "-c", "from toolkit.experiment.runner import run; run('.')"]
    dvc_times, pitlane_times, core_times = [], [], []
    samples = {"dvc": dvc_times, "pitlane": pitlane_times, "api": core_times}
    commands = {"dvc": dvc, "pitlane": pitlane, "api": core}
    for round_no in range(rounds):
        # Rotated order: no side is always the one that runs first after the previous round.
        names = ["dvc", "pitlane", "api"]
        for name in names[round_no % 3 :] + names[: round_no % 3]:
            t, out = _timed(commands[name], repo, env)
            assert "Running stage" not in out, out
            samples[name].append(t)
    cli_startup = statistics.median(_timed([str(VENV_BIN / "pitlane"), "--help"], repo, env)[0] for _ in range(3))
    dvc_s, pitlane_s, core_s = (statistics.median(t) for t in (dvc_times, pitlane_times, core_times))
    return {
        "process_tasks": tasks,
        "stages": tasks + 2,
        "dvc_repro_noop_s": round(dvc_s, 3),
        "pitlane_run_noop_s": round(pitlane_s, 3),
        # Judged on the median of per-round ratios: each round runs both back to back, and this VM's
        # speed drifts by up to +-25 % between rounds (identical runs measured 2.0-3.1 s).
        "ratio": round(statistics.median(p / d for p, d in zip(pitlane_times, dvc_times, strict=True)), 3),
        "ratio_of_medians": round(pitlane_s / dvc_s, 3),
        "ratio_of_fastest": round(min(pitlane_times) / min(dvc_times), 3),
        "target_ratio": 1.2,
        "api_run_noop_s": round(core_s, 3),
        "api_ratio": round(core_s / dvc_s, 3),
        "pitlane_cli_startup_s": round(cli_startup, 3),
        "rounds": rounds,
        "dvc_samples_s": [round(t, 3) for t in dvc_times],
        "pitlane_samples_s": [round(t, 3) for t in pitlane_times],
        "api_samples_s": [round(t, 3) for t in core_times],
    }


def _load_template_model() -> Any:
    spec = importlib.util.spec_from_file_location("template_model", ROOT / "templates/experiment/template/src/model.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.PatchClassifier


def bench_training(steps: int, rounds: int, base: Path) -> dict[str, Any]:
    import lightning.pytorch as pl
    import torch
    from lightning.pytorch.callbacks import ModelCheckpoint
    from torch.utils.data import DataLoader, TensorDataset

    from toolkit.experiment.camera import extract_patches
    from toolkit.experiment.spec import ModelSpec, TrainerSpec
    from toolkit.experiment.training import fit

    patch_classifier = _load_template_model()
    images, labels, _ = extract_patches(BAG, 32, 16)
    classes = sorted(set(labels))
    dataset = TensorDataset(torch.from_numpy(images), torch.tensor([classes.index(x) for x in labels]))
    every = 10
    spec = TrainerSpec(max_steps=steps, batch_size=32, lr=1e-3, checkpoint_every_n_steps=every, deterministic=True)
    torch.set_num_threads(1)

    def factory() -> pl.LightningModule:
        return patch_classifier(ModelSpec(), 32, len(classes), spec.lr)

    def template_loop(run: int) -> float:
        t0 = time.perf_counter()
        fit(factory, dataset, None, spec, seed=1, checkpoint_dir=base / f"tpl-{run}", cpu_threads=1)
        return time.perf_counter() - t0

    def plain_loop(run: int) -> float:
        t0 = time.perf_counter()
        _plain_fit(run)
        return time.perf_counter() - t0

    def _plain_fit(run: int) -> None:
        pl.seed_everything(1, verbose=False)
        module = factory()
        loader = DataLoader(dataset, batch_size=32, shuffle=True)
        trainer = pl.Trainer(
            max_steps=steps,
            max_epochs=-1,
            accelerator=spec.accelerator,
            devices=1,
            deterministic=True,
            callbacks=[ModelCheckpoint(dirpath=base / f"plain-{run}", every_n_train_steps=every, save_last=True)],
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            limit_val_batches=0,
        )
        trainer.fit(module, train_dataloaders=loader)

    plain_loop(-1)  # warm-up: first-use costs (kernels, imports inside Lightning) belong to neither side
    template_times, plain_times, template_cpu, plain_cpu = [], [], [], []
    for run in range(rounds):
        # CPU time (one intra-op thread) is also kept: this VM's wall clock drifts by +-10 % between rounds.
        # The order flips every round, so whatever the first run of a pair leaves behind (allocator,
        # caches, write-back) does not always favour the same side.
        for side in ("plain", "template") if run % 2 == 0 else ("template", "plain"):
            c0 = time.process_time()
            if side == "plain":
                plain_times.append(plain_loop(run))
                plain_cpu.append(time.process_time() - c0)
            else:
                template_times.append(template_loop(run))
                template_cpu.append(time.process_time() - c0)
    template_s, plain_s = statistics.median(template_times), statistics.median(plain_times)
    paired = [t / p for t, p in zip(template_times, plain_times, strict=True)]
    return {
        "steps": steps,
        "checkpoint_every_n_steps": every,
        "samples": len(dataset),
        "template_loop_s": round(template_s, 3),
        "plain_lightning_s": round(plain_s, 3),
        "ratio": round(statistics.median(paired), 3),  # median of per-round ratios, as for the no-op
        "target_ratio": 1.05,
        "ratio_of_medians": round(template_s / plain_s, 3),
        "cpu_time_ratio": round(statistics.median(template_cpu) / statistics.median(plain_cpu), 3),
        "rounds": rounds,
        "template_samples_s": [round(t, 3) for t in template_times],
        "plain_samples_s": [round(t, 3) for t in plain_times],
    }


def _write(results: dict[str, Any]) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and steps (a smoke run)")
    parser.add_argument("--tasks", type=int, nargs="*", default=[3, 300], help="process-task counts for the no-op part")
    parser.add_argument("--no-training", action="store_true", help="skip the training-loop part (keep its last result)")
    args = parser.parse_args()
    rounds = 3 if args.quick else 5
    results: dict[str, Any] = {
        "benchmark": "pipeline_overhead",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg_start": os.getloadavg()},
        "notes": "no-op: stage bodies swapped for shell commands (a no-op runs none); medians of alternating rounds",
    }
    with tempfile.TemporaryDirectory(prefix="pitlane-bench-") as tmp:
        base = Path(tmp)
        home = base / "home"
        home.mkdir()
        (home / ".gitconfig").write_text("[user]\n\tname = Bench\n\temail = bench@pitlane.local\n")
        env = _env(home)
        previous = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
        if args.no_training and "training" in previous:
            results["training"] = previous["training"]
        else:
            # ~3 s per loop and +-10 % drift between runs on this VM: 7 alternating rounds, medians.
            results["training"] = bench_training(100 if args.quick else 200, 3 if args.quick else 11, base)
        _write(results)
        # Rows for task counts not measured now are kept from the previous result file.
        results["noop"] = [row for row in previous.get("noop", []) if row["process_tasks"] not in args.tasks]
        for tasks in args.tasks:
            # DVC re-reads params.yaml once per stage with params deps (O(stages x datasets)): at 300 tasks
            # one no-op takes minutes on a loaded 2-core machine, so fewer rounds there.
            # A no-op of a few stages takes ~1.5 s and this VM's timings wander by +-25 %: more rounds there.
            n = (rounds if args.quick else 11) if tasks <= 30 else (1 if args.quick else 2)
            results["noop"].append(bench_noop(tasks, n, base, env))
            results["noop"].sort(key=lambda row: row["process_tasks"])
            _write(results)
    results["machine"]["load_avg_end"] = os.getloadavg()
    _write(results)
    for row in results["noop"]:
        print(
            f"no-op {row['process_tasks']:>3} tasks: dvc repro {row['dvc_repro_noop_s']:.2f}s, "
            f"pitlane run {row['pitlane_run_noop_s']:.2f}s, ratio {row['ratio']:.2f} (target <= 1.2)"
        )
    train = results["training"]
    print(
        f"training {train['steps']} steps: template loop {train['template_loop_s']:.2f}s, "
        f"plain Lightning {train['plain_lightning_s']:.2f}s, ratio {train['ratio']:.3f} (target <= 1.05)"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
