"""``pitlane init``: render the copier template, compose params.yaml, ``git init``, ``dvc init``, first commit."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from toolkit.errors import ConflictError, ExternalToolError, UserError
from toolkit.experiment.compose import compose


def _template_dir() -> Path:
    """The copier template: ``templates/experiment`` in a checkout, ``toolkit/templates`` in an installed wheel."""
    checkout = Path(__file__).resolve().parents[2] / "templates" / "experiment"
    if checkout.is_dir():
        return checkout
    return Path(__file__).resolve().parents[1] / "templates" / "experiment"


TEMPLATE = _template_dir()


def _dataset_name(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.-") or "data"
    return name if name[0].isalnum() else f"d{name}"


def parse_data_args(items: Sequence[str], cwd: Path) -> dict[str, dict[str, Any]]:
    """``PATH`` or ``NAME=PATH`` -> {name: {path}}; local paths are stored absolute and must exist."""
    datasets: dict[str, dict[str, Any]] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or "/" in name:
            name, raw = "", item
        path = (cwd / Path(raw).expanduser()).resolve()
        if not path.exists():
            raise UserError(f"--data {item}: {raw} does not exist")
        base = _dataset_name(name or path.name.split(".")[0])
        unique, n = base, 2
        while unique in datasets:
            unique, n = f"{base}_{n}", n + 1
        datasets[unique] = {"path": str(path)}
    return datasets


def _run(cmd: list[str], cwd: Path) -> None:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["failed"]
        raise ExternalToolError(f"`{' '.join(cmd[:2])}` failed in {cwd}: {last[0]}")


def init_experiment(
    path: Path,
    data: Sequence[str] = (),
    name: str | None = None,
    seed: int = 42,
    max_steps: int = 60,
    train_gpus: int = 0,
    template: Path | None = None,
    pitlane_install: str | None = None,
) -> Path:
    """Create an experiment repo at ``path``; returns its absolute path.

    ``pitlane_install`` is the pip requirement CI and the build image install Pitlane from (the template's
    default is a Git URL of ``pitlane_repo`` at ``pitlane_ref``).
    """
    from copier import run_copy

    target = Path(path).expanduser().resolve()
    if target.exists() and any(target.iterdir()):
        raise ConflictError(f"{path}: exists and is not empty")
    source = template or TEMPLATE
    if not (source / "copier.yml").is_file():
        raise UserError(f"{source}: not a copier template (no copier.yml)")
    answers: dict[str, Any] = {
        "project_name": _dataset_name(name or target.name),
        "seed": seed,
        "max_steps": max_steps,
        "train_gpus": train_gpus,
    }
    if pitlane_install is not None:
        answers["pitlane_install"] = pitlane_install
    datasets = parse_data_args(data, Path.cwd())
    if datasets:
        answers["datasets"] = datasets
    run_copy(str(source), str(target), data=answers, defaults=True, quiet=True, overwrite=False)
    compose(target)
    _run(["git", "init", "-q", "-b", "main"], target)  # the template's workflows run on pushes to main
    _run([sys.executable, "-m", "dvc", "init", "-q"], target)
    _run(["git", "add", "-A"], target)
    _run(["git", "commit", "-q", "-m", "pitlane init: experiment from template"], target)
    return target
