"""Shared pieces of the web-run tests: an experiment repo rendered from the real template."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BAGS

RAW = BAGS / "sensors" / "spot_cameras_raw.bag"
MAX_STEPS = 24
CKPT_EVERY = 4


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def make_experiment(root: Path, name: str = "cams") -> Path:
    """`pitlane init` an experiment that trains a few steps and checkpoints often (for resume tests)."""
    from toolkit.experiment.compose import compose
    from toolkit.experiment.scaffold import init_experiment

    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text("[user]\n\tname = Pitlane Test\n\temail = test@pitlane.local\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        mp.setenv("DVC_NO_ANALYTICS", "1")
        mp.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
        repo = init_experiment(root / name, data=[f"raw={RAW}"], name=name, seed=7, max_steps=MAX_STEPS)
        conf = repo / "conf" / "trainer" / "default.yaml"
        conf.write_text(
            "\n".join(
                f"checkpoint_every_n_steps: {CKPT_EVERY}" if ln.startswith("checkpoint_every_n_steps:") else ln
                for ln in conf.read_text().splitlines()
            )
            + "\n"
        )
        compose(repo)
        git(repo, "commit", "-qam", "test: checkpoint often")
    return repo


def poll(fn: Callable[[], Any], done: Callable[[Any], bool], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still {value!r} after {timeout} s")
        time.sleep(0.5)
