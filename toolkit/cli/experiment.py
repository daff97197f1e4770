"""Experiment commands: ``init``, ``compose``, ``run`` and the ``runs`` group.

Thin: parse, call toolkit.experiment, render. Heavy modules (Hydra, DVC,
copier) are imported inside the commands so ``pitlane --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from toolkit.cli import output

REPO_OPTION = typer.Option(Path("."), "--repo", "-C", help="Experiment repo (default: current directory).")
SET_OPTION = typer.Option(
    [], "--set", "-S", help="Hydra override, e.g. trainer.lr=0.01 or model=small_cnn (repeatable)."
)

runs_app = typer.Typer(help="Runs of this experiment with params and metrics.", no_args_is_help=False)


def init(
    path: Path = typer.Argument(..., help="Directory to create (must not exist or be empty)."),
    data: list[str] = typer.Option([], "--data", "-d", help="Dataset: PATH or NAME=PATH (repeatable)."),
    name: str | None = typer.Option(None, "--name", help="Experiment name (default: directory name)."),
    seed: int = typer.Option(42, "--seed", help="Random seed."),
    max_steps: int = typer.Option(60, "--max-steps", help="Training steps."),
    gpus: int = typer.Option(0, "--gpus", help="GPUs the train stage requests."),
    pitlane_install: str | None = typer.Option(
        None,
        "--pitlane-install",
        help="pip requirement CI installs Pitlane from, e.g. 'pitlane @ git+https://github.com/ORG/pitlane.git@v1.2.0'.",
    ),
) -> None:
    """Create an experiment repo from the template: conf/, dvc.yaml, src/, git + dvc initialised."""
    from toolkit.experiment.scaffold import init_experiment

    repo = init_experiment(
        path,
        data=data,
        name=name,
        seed=seed,
        max_steps=max_steps,
        train_gpus=gpus,
        pitlane_install=pitlane_install,
    )
    output.info(f"created experiment repo {repo} (first commit done); next: cd {path} && pitlane run")


def compose(
    check: bool = typer.Option(False, "--check", help="Fail if the committed params.yaml differs from conf/."),
    overrides: list[str] = SET_OPTION,
    repo: Path = REPO_OPTION,
) -> None:
    """Compose conf/ with Hydra, validate it, and write params.yaml deterministically."""
    from toolkit.experiment.compose import compose as do_compose

    path = do_compose(repo, overrides, check=check)
    output.info(f"{path.name} is up to date with conf/" if check else f"wrote {path}")


def run(
    overrides: list[str] = SET_OPTION,
    resume: bool = typer.Option(False, "--resume", help="Continue training from the newest valid checkpoint."),
    allow_cpu: bool = typer.Option(
        False, "--allow-cpu", help="Run on CPU when a stage requests GPUs this machine lacks."
    ),
    push: bool = typer.Option(False, "--push", help="dvc push outputs (and run-cache) to the default remote."),
    exp: bool = typer.Option(False, "--exp", help="Run as a DVC experiment (dvc exp run)."),
    repo: Path = REPO_OPTION,
) -> None:
    """Validate, compose, check resources, reproduce the pipeline with DVC, record the run."""
    from toolkit.experiment.runner import run as do_run

    result = do_run(repo, overrides, resume=resume, allow_cpu=allow_cpu, push=push, exp=exp)
    for warning in result.warnings:
        output.info(f"warning: {warning}")
    if result.record is not None:
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in result.record.get("metrics", {}).items())
        output.info(f"run {result.run_id}: {metrics or 'no metrics'}")
    if result.pushed:
        output.info("pushed outputs and run-cache to the DVC remote")


def _fmt_metrics(metrics: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(metrics.items()))


@runs_app.callback(invoke_without_command=True)
def runs(
    ctx: typer.Context,
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document."),
    repo: Path = REPO_OPTION,
) -> None:
    """List runs (newest first) with params and metrics."""
    if ctx.invoked_subcommand is not None:
        return
    from toolkit.experiment.record import list_runs

    found = list_runs(repo)
    if json_out:
        output.print_json(found)
        return
    output.print_table(
        "runs",
        ["id", "finished", "commit", "dirty", "seed", "steps", "lr", "datasets", "metrics"],
        [
            [
                r["id"],
                r.get("finished_at"),
                (r.get("commit") or "")[:8],
                "yes" if r.get("dirty") else "",
                r.get("seed"),
                r["trainer"].get("max_steps"),
                r["trainer"].get("lr"),
                len(r.get("datasets", [])),
                _fmt_metrics(r.get("metrics", {})),
            ]
            for r in found
        ],
    )


@runs_app.command("show")
def runs_show(
    ref: str = typer.Argument(..., help="Run id (prefix), 'workspace', or a git revision holding run.json."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document."),
    repo: Path = REPO_OPTION,
) -> None:
    """Show one run record."""
    from toolkit.experiment.record import show_run

    found = show_run(repo, ref)
    if json_out:
        output.print_json(found)
        return
    record = found["record"]
    git = record.get("git", {})
    rows = [
        ("id", found.get("id")),
        ("origin", found.get("origin")),
        ("name", record.get("name")),
        ("commit", f"{git.get('commit')}{' (dirty)' if git.get('dirty') else ''}"),
        ("params sha256", record.get("params_sha256")),
        ("environment", (record.get("environment") or {}).get("fingerprint")),
        ("seed", record.get("seed")),
        ("command", record.get("command")),
        ("started", record.get("started_at")),
        ("finished", record.get("finished_at")),
        ("steps", (record.get("training") or {}).get("global_step")),
        ("resumed from", (record.get("training") or {}).get("resumed_from")),
        ("datasets", ", ".join(sorted((record.get("data") or {}).get("sources", {})))),
        ("metrics", _fmt_metrics(record.get("metrics", {}))),
    ]
    output.print_table(f"run {found.get('id')}", ["field", "value"], rows)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("compose")(compose)
    app.command("run")(run)
    app.add_typer(runs_app, name="runs")
