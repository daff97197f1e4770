"""Liveness and identity: the only API routes anonymous callers may use is health."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import select

from registry.api.deps import CurrentPrincipal, SessionDep
from registry.models import Project
from registry.schemas import Health, Me
from toolkit import __version__

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
def health(request: Request) -> Health:
    return Health(status="ok", version=__version__, database=request.app.state.db.dialect)


@router.get("/me", response_model=Me)
def me(principal: CurrentPrincipal, session: SessionDep) -> Me:
    ids = set(principal.roles)
    if principal.token_project_id is not None:
        ids.add(principal.token_project_id)
    names = dict(session.execute(select(Project.id, Project.name).where(Project.id.in_(ids))).all())
    return Me(
        name=principal.name,
        kind=principal.kind,
        is_admin=principal.is_admin,
        roles={names[pid]: role.value for pid, role in principal.roles.items() if pid in names},
        token_project=names.get(principal.token_project_id) if principal.token_project_id else None,
        scopes=sorted(principal.scopes) if principal.scopes is not None else None,
    )
