"""``pitlane run``: validate -> compose -> check resources -> dvc repro / dvc exp run -> run record -> push.

DVC runs in this process: a second interpreter would pay DVC's import again,
and a no-op run must stay close to a no-op ``dvc repro``. ``repro`` goes
through DVC's Python API (the same ``Repo.reproduce`` call its CLI makes,
without building the argument parser of every DVC command); ``exp run`` and
``push`` through its CLI entry point. Stage commands still run as DVC's
subprocesses.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit.errors import DatasetError, PipelineError, UserError
from toolkit.experiment import plan as plans
from toolkit.experiment import record as records
from toolkit.experiment import resources
from toolkit.experiment.envvars import ACCELERATOR_ENV, COMMAND_ENV, RESUME_ENV


@dataclass
class RunResult:
    repo: Path
    run_id: str | None
    record: dict[str, Any] | None
    warnings: list[str] = field(default_factory=list)
    experiment: bool = False
    pushed: bool = False


@contextlib.contextmanager
def _in_repo(repo: Path, env: dict[str, str]) -> Iterator[None]:
    old_cwd, old_env = Path.cwd(), {k: os.environ.get(k) for k in env}
    os.chdir(repo)
    os.environ.update(env)
    try:
        yield
    finally:
        os.chdir(old_cwd)
        for key, value in old_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def dvc(*args: str) -> int:
    from dvc.cli import main as dvc_main

    return int(dvc_main(list(args)))


def dvc_repro() -> int:
    """``dvc repro`` in the current directory: same output and exit codes as DVC's CLI."""
    from dvc.commands.status import CmdDataStatus
    from dvc.exceptions import DvcException
    from dvc.log import logger
    from dvc.repo import Repo
    from dvc.repo.open_repo import clean_repos
    from dvc.ui import ui

    ui.enable()
    try:
        with Repo() as repo:
            stages = repo.reproduce()
    except DvcException:
        logger.exception("")  # DVC's own one-line "ERROR: ..." rendering, as its CLI prints it
        return 255
    finally:
        clean_repos()
    ui.write(CmdDataStatus.UP_TO_DATE_MSG if not stages else "Use `dvc push` to send your updates to remote storage.")
    return 0


def require_experiment_repo(repo: Path) -> Path:
    repo = Path(repo).resolve()
    if not (repo / "dvc.yaml").is_file() or not (repo / plans.CONF_DIR).is_dir():
        raise UserError(f"{repo}: not an experiment repo (needs dvc.yaml and conf/; see `pitlane init`)")
    if not (repo / ".dvc").is_dir():
        raise UserError(f"{repo}: DVC is not initialised here (run `dvc init`)")
    return repo


def _command_line(repo: Path, overrides: Sequence[str], resume: bool, allow_cpu: bool, push: bool, exp: bool) -> str:
    """The equivalent CLI invocation, for the run record (also when called through the Python API)."""
    flags = [f for f, on in (("--resume", resume), ("--allow-cpu", allow_cpu), ("--push", push), ("--exp", exp)) if on]
    return shlex.join(["pitlane", "run", "-C", str(repo), *(a for o in overrides for a in ("-S", o)), *flags])


def run(
    repo: Path,
    overrides: Sequence[str] = (),
    resume: bool = False,
    allow_cpu: bool = False,
    push: bool = False,
    exp: bool = False,
    command: str | None = None,
) -> RunResult:
    """Run the experiment pipeline; DVC skips what is up to date and restores what its run-cache knows."""
    repo = require_experiment_repo(repo)
    plan = plans.run_plan(repo, overrides)
    missing = plan.missing_local(repo)
    if missing:
        name = missing[0]
        raise DatasetError(f"datasets.{name}.path: {plan.datasets[name].path} does not exist")
    machine = resources.detect(plan.needs_gpus)
    warnings = resources.check(plan, machine, allow_cpu=allow_cpu)

    # The stage commands call `python`: make it this interpreter (the one that has pitlane installed).
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        RESUME_ENV: "1" if resume else "0",
        COMMAND_ENV: command or _command_line(repo, overrides, resume, allow_cpu, push, exp),
    }
    if allow_cpu and resources.needs_cpu_fallback(plan, machine):
        env[ACCELERATOR_ENV] = "cpu"
    with _in_repo(repo, env):
        argv = ["exp", "run"] if exp else ["repro"]
        code = dvc(*argv) if exp else dvc_repro()
        if code != 0:
            raise PipelineError(f"`dvc {' '.join(argv)}` failed (exit {code}); see its output above")
        remembered = records.remember(repo, {"experiment": exp} if exp else None)
        pushed = False
        if push:
            code = dvc("push", "--run-cache")
            if code != 0:
                raise PipelineError(
                    f"`dvc push` failed (exit {code}); is a default remote configured? (`dvc remote list`)"
                )
            pushed = True
    rid, rec = remembered if remembered else (None, None)
    return RunResult(repo=repo, run_id=rid, record=rec, warnings=warnings, experiment=exp, pushed=pushed)
