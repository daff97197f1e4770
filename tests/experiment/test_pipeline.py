"""The experiment pipeline end to end: real git, the real dvc CLI, real training on frames from fixture bags."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from tests.experiment.conftest import COMPRESSED, RAW, VENV_BIN, dvc, git, run_cli, set_yaml_value, tool_env
from toolkit.experiment import container


def _weights(repo: Path) -> dict[str, torch.Tensor]:
    return torch.load(repo / "models" / "model.pt", weights_only=True)


def _assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_first_run_writes_run_record(trained_repo: Path) -> None:
    record = json.loads((trained_repo / "run.json").read_text())
    assert record["git"]["commit"] == git(trained_repo, "rev-parse", "HEAD~1").strip()
    assert record["git"]["dirty"] is False  # outputs and DVC's .gitignore edits are not source changes
    assert record["params_sha256"] == hashlib.sha256((trained_repo / "params.yaml").read_bytes()).hexdigest()
    source = record["data"]["sources"]["raw"]
    assert source["md5"] == hashlib.md5(RAW.read_bytes()).hexdigest()
    assert record["data"]["lock"]["process@raw"]["outs"]["data/processed/raw"].endswith(".dir")
    env = json.loads((trained_repo / "build" / "env.json").read_text())
    assert record["environment"]["fingerprint"] == env["fingerprint"]
    lock = hashlib.sha256((trained_repo / "requirements.lock").read_bytes()).hexdigest()
    assert record["environment"]["lock_sha256"] == env["lock_sha256"] == lock
    assert env["image"]["status"] in {"unavailable", "built"}  # "built": test_container.py
    assert record["seed"] == 7 and record["training"]["global_step"] == record["params"]["trainer"]["max_steps"]
    assert set(record["metrics"]) >= {"train_loss", "val_loss", "val_acc"}
    assert record["versions"]["torch"] == torch.__version__
    assert record["command"].startswith("pitlane run")
    # dvclive wrote metrics and plots that dvc.yaml declares.
    assert json.loads((trained_repo / "dvclive" / "metrics.json").read_text())["step"] >= 0
    assert list((trained_repo / "dvclive" / "plots" / "metrics").rglob("*.tsv"))


def test_runs_lists_and_shows_the_run(trained_repo: Path) -> None:
    runs = json.loads(run_cli(trained_repo, "runs", "--json").stdout)
    assert len(runs) == 1 and runs[0]["trainer"]["max_steps"] == 24 and "val_acc" in runs[0]["metrics"]
    shown = json.loads(run_cli(trained_repo, "runs", "show", runs[0]["id"][:6], "--json").stdout)
    assert shown["record"]["params_sha256"] == runs[0]["params_sha256"]
    at_head = json.loads(run_cli(trained_repo, "runs", "show", "HEAD", "--json").stdout)
    assert at_head["id"] == runs[0]["id"]


def test_train_param_change_reruns_only_train_and_revert_hits_run_cache(trained_copy: Path) -> None:
    original = _weights(trained_copy)
    set_yaml_value(trained_copy / "conf" / "trainer" / "default.yaml", "lr", "0.01")
    out = run_cli(trained_copy, "run").stdout
    assert "Running stage 'train'" in out
    assert "Running stage 'build'" not in out and "Running stage 'process@raw'" not in out
    assert "Stage 'process@raw' didn't change, skipping" in out
    assert not torch.equal(_weights(trained_copy)["net.0.weight"], original["net.0.weight"])

    git(trained_copy, "checkout", "--", "conf")
    out = run_cli(trained_copy, "run").stdout
    assert "Stage 'train' is cached - skipping run, checking out outputs" in out
    assert "Running stage" not in out
    _assert_same_weights(_weights(trained_copy), original)


def test_changing_the_lock_reruns_build_and_records_the_new_digest(trained_copy: Path) -> None:
    lock = trained_copy / "requirements.lock"
    lock.write_text(lock.read_text() + "# relocked\n")
    out = run_cli(trained_copy, "run").stdout
    assert "Running stage 'build'" in out
    record = json.loads((trained_copy / "run.json").read_text())
    assert record["environment"]["lock_sha256"] == hashlib.sha256(lock.read_bytes()).hexdigest()


def test_adding_a_dataset_adds_exactly_one_process_task(trained_copy: Path) -> None:
    data = trained_copy / "conf" / "data" / "default.yaml"
    data.write_text(data.read_text() + f"  compressed:\n    path: {json.dumps(str(COMPRESSED))}\n")
    out = run_cli(trained_copy, "run").stdout
    assert out.count("Running stage 'process@") == 1 and "Running stage 'process@compressed'" in out
    assert "Running stage 'train'" in out
    stages = dvc(trained_copy, "stage", "list", "--name-only").stdout.split()
    assert sorted(s for s in stages if s.startswith("process@")) == ["process@compressed", "process@raw"]
    record = json.loads((trained_copy / "run.json").read_text())
    assert sorted(record["data"]["sources"]) == ["compressed", "raw"]


def test_resume_after_sigkill_gives_the_same_weights(trained_copy: Path) -> None:
    # A config never trained before, so neither the run nor the resume can come from DVC's run-cache.
    set_yaml_value(trained_copy / "conf" / "trainer" / "default.yaml", "lr", "0.005")
    run_cli(trained_copy, "compose")
    checkpoints = trained_copy / "checkpoints"
    shutil.rmtree(checkpoints)
    # Train in a process group and SIGKILL all of it (dvc and the stage) as soon as a checkpoint lands; where the
    # stage runs in a container, SIGKILL its processes first (the container outlives a killed podman client).
    engine = container.detect()
    in_container = (
        engine is not None
        and json.loads((trained_copy / "build" / "env.json").read_text())["image"]["status"] == "built"
    )
    proc = subprocess.Popen(
        [str(VENV_BIN / "dvc"), "repro", "--single-item", "train"],
        cwd=trained_copy,
        env=tool_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 240
    try:
        while not list(checkpoints.glob("*/step-*.ckpt")):
            assert proc.poll() is None, "training ended before a checkpoint was written"
            assert time.monotonic() < deadline, "no checkpoint within 240 s"
            time.sleep(0.05)
    finally:
        if in_container:
            assert engine is not None
            name = container.container_name(trained_copy, "train")
            subprocess.run(engine.command("kill", "--signal", "KILL", name), capture_output=True)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    saved = sorted(p.name for p in checkpoints.glob("*/*.ckpt"))
    assert saved and "step-000024.ckpt" not in saved, f"killed too late: {saved}"
    assert not (trained_copy / "models" / "model.pt").exists()  # dvc removed the outputs before training

    done = run_cli(trained_copy, "run", "--resume")
    assert "Running stage 'train'" in done.stdout and "resume: from " in done.stdout
    assert ("train: in container" in done.stderr) == in_container
    record = json.loads((trained_copy / "run.json").read_text())
    assert record["training"]["resumed_from"].endswith(".ckpt")
    assert record["training"]["global_step"] == 24
    resumed = _weights(trained_copy)

    # The same config uninterrupted, from scratch (no PITLANE_RESUME: old checkpoints are cleared first).
    dvc(trained_copy, "repro", "--force", "--single-item", "train")
    rerun = json.loads((trained_copy / "run.json").read_text())
    assert rerun["training"]["resumed_from"] is None
    assert rerun["runtime"]["where"] == ("container" if in_container else "host")
    _assert_same_weights(resumed, _weights(trained_copy))


def test_push_then_fresh_clone_pull_repro_is_a_noop(
    trained_copy: Path, s3_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", tool_env()["PATH"])  # the fixture calls `dvc` by name
    s3_server.configure_dvc_remote(trained_copy, prefix=f"exp-{os.getpid()}-{time.monotonic_ns()}")
    git(trained_copy, "add", ".dvc/config")
    git(trained_copy, "commit", "-qm", "test: remote")
    done = run_cli(trained_copy, "run", "--push")
    assert "pushed outputs" in done.stderr

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(trained_copy), str(clone))
    (clone / ".dvc" / "config.local").write_text((trained_copy / ".dvc" / "config.local").read_text())
    dvc(clone, "pull")
    out = dvc(clone, "repro").stdout
    assert "Running stage" not in out
    assert "Data and pipelines are up to date." in out
    _assert_same_weights(_weights(clone), _weights(trained_copy))


def test_run_as_dvc_experiment_with_override(trained_copy: Path) -> None:
    done = run_cli(trained_copy, "run", "--exp", "-S", "trainer.lr=0.02")
    assert "Running stage 'train'" in done.stdout
    assert "lr: 0.02\n" in (trained_copy / "params.yaml").read_text()
    assert len(dvc(trained_copy, "exp", "list", "--name-only").stdout.split()) == 1
    runs = json.loads(run_cli(trained_copy, "runs", "--json").stdout)
    assert [r["trainer"]["lr"] for r in runs if r.get("experiment")] == [0.02]
