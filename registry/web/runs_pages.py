"""Server-rendered experiment and run pages; the run page polls `/api/v1/runs/{id}` for status and logs."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from registry.api.routes.runs import database, executor_of, principal_of, read_run, refresh_live
from registry.core.config import SESSION_COOKIE
from registry.core.security import ROLE_ACTIONS, Action, csrf_token
from registry.services import runs as svc
from registry.web import safety

router = APIRouter(tags=["run pages"], include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
safety.install(templates.env)


def _csrf(request: Request) -> str:
    cookie = request.cookies.get(SESSION_COOKIE)
    return csrf_token(cookie) if cookie else ""


@router.get("/experiments", response_class=HTMLResponse)
def experiments_page(request: Request) -> HTMLResponse:
    db = database(request)
    actor = principal_of(request, db)
    with db.transaction(write=False) as session:
        rows = [
            {"project": p.name, "name": e.name, "repo": e.repo_url, "ref": e.ref, "description": e.description}
            for e, p in svc.list_experiments(session, actor)
        ]
    return templates.TemplateResponse(request, "runs_experiments.html", {"experiments": rows})


@router.get("/experiments/{project}/{name}", response_class=HTMLResponse)
def experiment_page(project: str, name: str, request: Request) -> HTMLResponse:
    db = database(request)
    actor = principal_of(request, db)
    refresh_live(db, executor_of(request))
    with db.transaction(write=False) as session:
        exp, proj = svc.get_experiment(session, actor, project, name)
        role = actor.role_in(proj.id)
        can_run = role is not None and Action.packages_manage in ROLE_ACTIONS[role]
        runs = svc.list_runs(session, actor, exp)
        context = {
            "project": proj.name,
            "experiment": exp,
            "runs": runs,
            "can_run": can_run and actor.scope_allows(Action.packages_manage),
            "csrf": _csrf(request),
        }
    return templates.TemplateResponse(request, "runs_experiment.html", context)


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(run_id: int, request: Request) -> HTMLResponse:
    db = database(request)
    actor = principal_of(request, db)
    read_run(db, actor, run_id)
    refresh_live(db, executor_of(request))
    run = read_run(db, actor, run_id)
    with db.transaction(write=False) as session:
        view = svc.get_run(session, actor, run_id)
        role = actor.role_in(view.project.id)
        can_manage = role is not None and Action.packages_manage in ROLE_ACTIONS[role]
    return templates.TemplateResponse(
        request, "runs_run.html", {"run": run, "can_manage": can_manage, "csrf": _csrf(request)}
    )
