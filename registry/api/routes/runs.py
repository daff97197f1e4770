"""Experiments and runs started from the registry (executor: local subprocess or Ray Jobs).

Reads of live runs poll the executor and store what it says, so the page's
poll loop is what moves a run along; nothing else needs to run in the server.
Release and sync open their own transactions: the sync writes through its
own sessions and must not wait on a write lock this request holds.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel, Field

from registry.api.deps import get_principal
from registry.core.config import SESSION_COOKIE
from registry.core.db import Database
from registry.core.policy import policy_of
from registry.core.security import Action, Principal, csrf_token
from registry.executors import Executor, make_executor
from registry.models import Project
from registry.models_runs import Experiment, Run
from registry.services import runs as svc
from registry.services.access import authorize_project
from toolkit.errors import ConflictError, PermissionDeniedError, UserError

CSRF_HEADER = "X-CSRF-Token"


def check_csrf(request: Request) -> None:
    """Writes authenticated by the browser's cookie must carry the page's CSRF token."""
    if request.method in {"GET", "HEAD", "OPTIONS"} or request.headers.get("authorization"):
        return
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and request.headers.get(CSRF_HEADER) != csrf_token(cookie):
        raise PermissionDeniedError("missing or wrong CSRF token: reload the page")


router = APIRouter(tags=["runs"], dependencies=[Depends(check_csrf)])


# --- schemas ----------------------------------------------------------------------
class ExperimentIn(BaseModel):
    project: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=100)
    repo_url: str = Field(min_length=1, max_length=1000, description="Git URL or absolute path")
    ref: str = Field(default="", max_length=200, description="branch or tag to run; empty: the default branch")
    description: str = Field(default="", max_length=10_000)


class ExperimentOut(BaseModel):
    project: str
    name: str
    repo_url: str
    ref: str
    description: str
    created_by: str
    created_at: datetime


class RunIn(BaseModel):
    overrides: list[str] = Field(default_factory=list, max_length=100, description="Hydra overrides KEY=VALUE")


class ReleaseIn(BaseModel):
    package: str = Field(min_length=1, max_length=200)
    version: str = Field(min_length=1, max_length=200)
    channel: str | None = Field(default=None, max_length=100)
    files: list[str] = Field(
        default_factory=list, max_length=100, description="DVC-tracked outputs to release; default: the train stage's"
    )


class RunOut(BaseModel):
    id: int
    project: str
    experiment: str
    number: int
    overrides: list[str]
    executor: str
    job_id: str | None
    status: str
    message: str
    attempt: int
    commit: str
    resources: dict[str, Any]
    metrics: dict[str, Any]
    log_tail: str
    released_as: str | None
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def experiment_out(exp: Experiment, project: Project) -> ExperimentOut:
    return ExperimentOut(
        project=project.name, name=exp.name, repo_url=exp.repo_url, ref=exp.ref, description=exp.description,
        created_by=exp.created_by, created_at=exp.created_at,
    )  # fmt: skip


def run_out(run: Run, exp: Experiment, project: Project) -> RunOut:
    return RunOut(
        id=run.id, project=project.name, experiment=exp.name, number=run.number, overrides=list(run.overrides or []),
        executor=run.executor, job_id=run.job_id, status=run.status, message=run.message, attempt=run.attempt,
        commit=run.commit, resources=dict(run.resources or {}), metrics=dict(run.metrics or {}),
        log_tail=run.log_tail, released_as=run.released_as, created_by=run.created_by, created_at=run.created_at,
        started_at=run.started_at, finished_at=run.finished_at,
    )  # fmt: skip


# --- helpers ------------------------------------------------------------------------
def database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def executor_of(request: Request) -> Executor:
    """One executor per app, made on first use from the settings (PITLANE_EXECUTOR, PITLANE_RAY_ADDRESS)."""
    state = request.app.state
    if getattr(state, "run_executor", None) is None:
        state.run_executor = make_executor(state.settings)
    ex: Executor = state.run_executor
    return ex


def home_of(request: Request) -> Path:
    return Path(request.app.state.settings.home)


def principal_of(request: Request, db: Database) -> Principal:
    with db.transaction(write=False) as session:
        return get_principal(request, session)


def refresh_live(db: Database, executor: Executor) -> None:
    """Poll the executor for every live run (a local queue moves on only when polled)."""
    with db.transaction() as session:
        for run in svc.live_runs(session):
            svc.refresh(executor, run)


def read_run(db: Database, actor: Principal, run_id: int) -> RunOut:
    with db.transaction(write=False) as session:
        view = svc.get_run(session, actor, run_id)
        return run_out(view.run, view.experiment, view.project)


# --- routes -------------------------------------------------------------------------
@router.get("/experiments", response_model=list[ExperimentOut])
def list_experiments(request: Request) -> list[ExperimentOut]:
    db = database(request)
    actor = principal_of(request, db)
    with db.transaction(write=False) as session:
        return [experiment_out(e, p) for e, p in svc.list_experiments(session, actor)]


@router.post("/experiments", response_model=ExperimentOut, status_code=status.HTTP_201_CREATED)
def register_experiment(body: ExperimentIn, request: Request) -> ExperimentOut:
    db = database(request)
    actor = principal_of(request, db)
    with db.transaction() as session:
        exp = svc.register_experiment(
            session,
            actor,
            body.project,
            body.name,
            body.repo_url,
            body.ref,
            body.description,
            policy_of(request.app.state),
        )
        project = session.get(Project, exp.project_id)
        assert project is not None
        return experiment_out(exp, project)


@router.get("/experiments/{project}/{name}/runs", response_model=list[RunOut])
def list_runs(project: str, name: str, request: Request) -> list[RunOut]:
    db = database(request)
    actor = principal_of(request, db)
    refresh_live(db, executor_of(request))
    with db.transaction(write=False) as session:
        exp, proj = svc.get_experiment(session, actor, project, name)
        return [run_out(r, exp, proj) for r in svc.list_runs(session, actor, exp)]


@router.post("/experiments/{project}/{name}/runs", response_model=RunOut, status_code=status.HTTP_201_CREATED)
def start_run(project: str, name: str, body: RunIn, request: Request) -> RunOut:
    db = database(request)
    actor = principal_of(request, db)
    executor = executor_of(request)
    with db.transaction() as session:
        run = svc.start_run(
            session, actor, executor, home_of(request), project, name, body.overrides, policy_of(request.app.state)
        )
        run_id = run.id
    return read_run(db, actor, run_id)


@router.get("/runs/{run_id}", response_model=RunOut)
def get_run(run_id: int, request: Request) -> RunOut:
    db = database(request)
    actor = principal_of(request, db)
    read_run(db, actor, run_id)  # NotFound before any executor call
    refresh_live(db, executor_of(request))
    return read_run(db, actor, run_id)


@router.post("/runs/{run_id}/retry", response_model=RunOut)
def retry_run(run_id: int, request: Request) -> RunOut:
    db = database(request)
    actor = principal_of(request, db)
    executor = executor_of(request)
    refresh_live(db, executor)
    with db.transaction() as session:
        svc.retry_run(session, actor, executor, run_id)
    return read_run(db, actor, run_id)


@router.post("/runs/{run_id}/stop", response_model=RunOut)
def stop_run(run_id: int, request: Request) -> RunOut:
    db = database(request)
    actor = principal_of(request, db)
    with db.transaction() as session:
        svc.stop_run(session, actor, executor_of(request), run_id)
    return read_run(db, actor, run_id)


@router.post("/runs/{run_id}/release", response_model=RunOut)
def release_run(run_id: int, body: ReleaseIn, request: Request) -> RunOut:
    """Release a finished run as PACKAGE@VERSION: tag + dvc push in its clone, then sync the registry."""
    from registry.services.remotes import register_remote, remotes_for_url
    from registry.sync import sync_remote

    db = database(request)
    actor = principal_of(request, db)
    with db.transaction(write=False) as session:
        view = svc.get_run(session, actor, run_id)
        authorize_project(actor, view.project, Action.packages_manage)
        if view.run.status != "succeeded":
            raise ConflictError(f"run {run_id} is {view.run.status}: only succeeded runs can be released")
        if view.run.released_as:
            raise ConflictError(f"run {run_id} is already released as {view.run.released_as}")
        workdir, repo_url, project_name = Path(view.run.workdir), view.experiment.repo_url, view.project.name
    tag = svc.release_workdir(workdir, body.package, body.version, body.channel, body.files)
    with db.transaction() as session:
        known = [r for r in remotes_for_url(session, [repo_url]) if r.project_id == view.project.id]
        remote_id = (
            known[0].id
            if known
            else register_remote(session, actor, project_name, repo_url, policy_of(request.app.state)).id
        )
    report = sync_remote(db, remote_id, home_of(request), policy_of(request.app.state))
    with db.transaction() as session:
        run = session.get(Run, run_id)
        assert run is not None
        run.released_as = tag
    if report.errors:
        raise UserError(f"released {tag}, but the registry sync reported: {report.errors[0]}")
    return read_run(db, actor, run_id)
