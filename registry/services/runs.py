"""Experiments and the runs maintainers start from the registry.

A run clones the experiment's repository into a work directory under
PITLANE_HOME, composes the spec with the run's overrides (to validate them
and to learn the resources the executor must ask for), and hands
`pitlane run -S ...` to the executor. The database keeps the executor's job
id; every read of a live run asks the executor again, so status survives a
registry restart. A retry is the next attempt of the same run with
`pitlane run --resume`, continuing from the newest valid checkpoint.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.core.policy import Policy
from registry.core.security import Action, Principal
from registry.executors import Executor, JobResources, JobSpec, JobState
from registry.models import Project, utcnow
from registry.models_runs import Experiment, Run
from registry.services.access import authorize_project, check_name, get_project, visible_project_ids
from registry.services.audit import record_audit
from toolkit.errors import ConflictError, NotFoundError, UserError

LOG_TAIL_LINES = 200
_OVERRIDE = re.compile(r"^[+~]{0,2}[A-Za-z_][\w.@/-]*=.*$")


@dataclass(frozen=True)
class RunView:
    run: Run
    experiment: Experiment
    project: Project


# --- experiments -------------------------------------------------------------------
def register_experiment(
    session: Session, actor: Principal, project_name: str, name: str, repo_url: str, ref: str = "",
    description: str = "", policy: Policy | None = None,
) -> Experiment:  # fmt: skip
    project = get_project(session, actor, project_name)
    authorize_project(actor, project, Action.packages_manage)
    check_name("experiment", name)
    if not repo_url.strip():
        raise UserError("an experiment needs a repository URL or path")
    exists = session.execute(
        select(Experiment.id).where(Experiment.project_id == project.id, Experiment.name == name)
    ).first()
    if exists:
        raise ConflictError(f"experiment {project.name}/{name} already exists")
    (policy or Policy.from_settings()).check_remote(repo_url.strip(), "experiment repository")
    if ref.strip().startswith("-"):
        raise UserError(f"invalid ref {ref!r}: a branch or tag name cannot start with '-'")
    exp = Experiment(
        project_id=project.id, name=name, repo_url=repo_url.strip(), ref=ref.strip(), description=description,
        created_by=actor.actor,
    )  # fmt: skip
    session.add(exp)
    session.flush()
    record_audit(session, actor.actor, "experiment.register", f"experiment:{project.name}/{name}", None,
                 {"repo": exp.repo_url, "ref": exp.ref})  # fmt: skip
    return exp


def list_experiments(session: Session, actor: Principal) -> list[tuple[Experiment, Project]]:
    visible = visible_project_ids(session, actor)
    stmt = select(Experiment, Project).join(Project, Project.id == Experiment.project_id)
    if visible is not None:
        stmt = stmt.where(Project.id.in_(visible))
    return [(e, p) for e, p in session.execute(stmt.order_by(Project.name, Experiment.name)).all()]


def get_experiment(session: Session, actor: Principal, project_name: str, name: str) -> tuple[Experiment, Project]:
    project = get_project(session, actor, project_name)
    authorize_project(actor, project, Action.packages_read)
    exp = session.execute(
        select(Experiment).where(Experiment.project_id == project.id, Experiment.name == name)
    ).scalar_one_or_none()
    if exp is None:
        raise NotFoundError(f"experiment {project_name}/{name} not found")
    return exp, project


# --- runs ----------------------------------------------------------------------------
def pitlane_exe() -> str:
    sibling = Path(sys.executable).parent / "pitlane"
    return str(sibling) if sibling.exists() else (shutil.which("pitlane") or "pitlane")


def _git(args: list[str], cwd: Path | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        last = next((ln for ln in reversed(proc.stderr.splitlines()) if ln.strip()), f"exit {proc.returncode}")
        raise UserError(f"git {args[0]} failed: {last.strip()}")
    return proc.stdout.strip()


def check_overrides(overrides: list[str]) -> list[str]:
    clean = [o.strip() for o in overrides if o.strip()]
    for o in clean:
        if not _OVERRIDE.fullmatch(o):
            raise UserError(f"override {o!r}: write KEY=VALUE, e.g. trainer.lr=0.01")
    return clean


def run_resources(workdir: Path, overrides: list[str]) -> JobResources:
    """The largest request over the spec's stages: one job runs the whole pipeline."""
    from toolkit.experiment.compose import compose_spec

    spec = compose_spec(workdir, overrides).spec
    stages = [spec.resources.build, spec.resources.process, spec.resources.train]
    gpu_types = [s.gpu_type for s in stages if s.gpus and s.gpu_type]
    return JobResources(
        cpu=float(max(s.cpu for s in stages)),
        memory_bytes=max(s.memory_bytes for s in stages),
        gpus=float(max(s.gpus for s in stages)),
        gpu_type=gpu_types[0] if gpu_types else None,
    )


def _job(run: Run, resources: JobResources, resume: bool) -> JobSpec:
    argv = [pitlane_exe(), "run", *[a for o in run.overrides for a in ("-S", o)]]
    if resume:
        argv.append("--resume")
    # The job finds dvc and pitlane next to the registry's interpreter first (same install on every node).
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return JobSpec(run.id, Path(run.workdir), argv, {"PITLANE_RUN_ID": str(run.id), "PATH": path}, resources)


def start_run(
    session: Session, actor: Principal, executor: Executor, home: Path, project_name: str, name: str,
    overrides: list[str], policy: Policy | None = None,
) -> Run:  # fmt: skip
    exp, project = get_experiment(session, actor, project_name, name)
    authorize_project(actor, project, Action.packages_manage)
    (policy or Policy.from_settings()).check_remote(exp.repo_url, "experiment repository")
    clean = check_overrides(overrides)
    number = (session.execute(select(func.max(Run.number)).where(Run.experiment_id == exp.id)).scalar() or 0) + 1
    workdir = home / "runs" / project.name / exp.name / str(number)
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.parent.mkdir(parents=True, exist_ok=True)
    branch = ["--branch", exp.ref] if exp.ref else []  # empty ref: the repository's default branch
    # '--' ends git's options: a stored URL can never be read as one (--upload-pack=...).
    _git(["clone", "--quiet", *branch, "--", exp.repo_url, str(workdir)])
    # The executor's bookkeeping lives in the clone; keep it out of what a release commits.
    with (workdir / ".git" / "info" / "exclude").open("a") as fh:
        fh.write("\n/.pitlane-job/\n")
    try:
        resources = run_resources(workdir, clean)
    except UserError:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    run = Run(
        experiment_id=exp.id, number=number, overrides=clean, executor=executor.name, status=JobState.pending.value,
        workdir=str(workdir), commit=_git(["rev-parse", "HEAD"], workdir), created_by=actor.actor,
        resources={"cpu": resources.cpu, "memory_bytes": resources.memory_bytes, "gpus": resources.gpus,
                   "gpu_type": resources.gpu_type},
    )  # fmt: skip
    session.add(run)
    session.flush()
    run.job_id = executor.submit(_job(run, resources, resume=False))
    record_audit(session, actor.actor, "run.start", f"run:{project.name}/{exp.name}/{number}", None,
                 {"overrides": clean, "executor": executor.name, "job": run.job_id})  # fmt: skip
    return run


def _resources_of(run: Run) -> JobResources:
    r = run.resources or {}
    return JobResources(float(r.get("cpu", 1)), int(r.get("memory_bytes", 0)), float(r.get("gpus", 0)),
                        r.get("gpu_type"))  # fmt: skip


def read_metrics(workdir: Path) -> dict[str, Any]:
    for path, key in ((workdir / "run.json", "metrics"), (workdir / "dvclive" / "metrics.json", None)):
        if path.is_file():
            try:
                data = json.loads(path.read_text())
            except ValueError:
                continue
            metrics = data.get(key) if key else data
            if isinstance(metrics, dict) and metrics:
                return {k: v for k, v in metrics.items() if isinstance(v, int | float | str)}
    return {}


def refresh(executor: Executor, run: Run) -> Run:
    """Ask the executor about a live run and record what it says (status, reason, log tail, metrics)."""
    if not run.job_id or JobState(run.status).terminal or run.executor != executor.name:
        return run
    status = executor.status(run.job_id)
    if status.state is JobState.running and run.started_at is None:
        run.started_at = utcnow()
    run.status = status.state.value
    run.message = status.message
    logs = executor.logs(run.job_id)
    if logs:
        run.log_tail = "\n".join(logs.splitlines()[-LOG_TAIL_LINES:])
    if status.state.terminal:
        run.finished_at = utcnow()
        if status.state is JobState.succeeded:
            run.metrics = read_metrics(Path(run.workdir))
    return run


def live_runs(session: Session) -> list[Run]:
    live = [JobState.pending.value, JobState.running.value]
    return list(session.execute(select(Run).where(Run.status.in_(live)).order_by(Run.id)).scalars())


def get_run(session: Session, actor: Principal, run_id: int) -> RunView:
    run = session.get(Run, run_id)
    if run is None:
        raise NotFoundError(f"run {run_id} not found")
    exp = session.get(Experiment, run.experiment_id)
    assert exp is not None
    project = session.get(Project, exp.project_id)
    assert project is not None
    authorize_project(actor, project, Action.packages_read)
    return RunView(run, exp, project)


def list_runs(session: Session, actor: Principal, experiment: Experiment) -> list[Run]:
    stmt = select(Run).where(Run.experiment_id == experiment.id).order_by(Run.number.desc())
    return list(session.execute(stmt).scalars())


def retry_run(session: Session, actor: Principal, executor: Executor, run_id: int) -> Run:
    view = get_run(session, actor, run_id)
    authorize_project(actor, view.project, Action.packages_manage)
    run = view.run
    if run.status not in (JobState.failed.value, JobState.stopped.value):
        raise ConflictError(f"run {run.id} is {run.status}: only failed or stopped runs can be retried")
    run.attempt += 1
    run.executor = executor.name
    run.status = JobState.pending.value
    run.message = ""
    run.finished_at = None
    # The retry resumes from the newest valid checkpoint left in the run's work directory.
    run.job_id = executor.submit(_job(run, _resources_of(run), resume=True))
    record_audit(session, actor.actor, "run.retry", f"run:{view.project.name}/{view.experiment.name}/{run.number}",
                 None, {"attempt": run.attempt, "job": run.job_id})  # fmt: skip
    return run


def stop_run(session: Session, actor: Principal, executor: Executor, run_id: int) -> Run:
    view = get_run(session, actor, run_id)
    authorize_project(actor, view.project, Action.packages_manage)
    run = view.run
    if JobState(run.status).terminal:
        raise ConflictError(f"run {run.id} already {run.status}")
    if run.job_id:
        executor.stop(run.job_id)
    before = run.status
    run.status = JobState.stopped.value
    run.finished_at = utcnow()
    record_audit(session, actor.actor, "run.stop", f"run:{view.project.name}/{view.experiment.name}/{run.number}",
                 {"status": before}, {"status": run.status, "job": run.job_id})  # fmt: skip
    return run


# --- release ---------------------------------------------------------------------------
def release_workdir(
    workdir: Path, package: str, version: str, channel: str | None, files: list[str] | None = None
) -> str:
    """Commit the run's results in its clone and `pitlane release` them (dvc push + tag push to origin)."""
    _git(["add", "-A"], workdir)
    if _git(["status", "--porcelain"], workdir):
        _git(["commit", "--quiet", "-m", f"run results for {package}@{version}"], workdir)
    argv = [pitlane_exe(), "release", package, version, "--repo", str(workdir), "--json"]
    if channel:
        argv += ["--channel", channel]
    for f in files or []:
        argv += ["--files", f]
    proc = subprocess.run(argv, cwd=workdir, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        last = next((ln for ln in reversed(proc.stderr.splitlines()) if ln.strip()), f"exit {proc.returncode}")
        raise UserError(f"release failed: {last.strip().removeprefix('error: ')}")
    tag: str = json.loads(proc.stdout)["tag"]
    return tag
