"""Deployments: which firmware runs on which vehicle since when (append-only)."""

from __future__ import annotations

from fastapi import APIRouter, Query, status

from registry.api.deps import CurrentPrincipal, SessionDep
from registry.schemas_links import DeploymentIn, DeploymentOut
from registry.services import links

router = APIRouter(tags=["deployments"])


@router.post("/deployments", response_model=DeploymentOut, status_code=status.HTTP_201_CREATED)
def record_deployment(body: DeploymentIn, principal: CurrentPrincipal, session: SessionDep) -> DeploymentOut:
    return links.record_deployment(session, principal, body)


@router.get("/deployments", response_model=list[DeploymentOut])
def list_deployments(
    principal: CurrentPrincipal,
    session: SessionDep,
    vehicle: str | None = Query(default=None, max_length=200),
    firmware: str | None = Query(default=None, max_length=401, description="NAME@VERSION"),
    current: bool = Query(default=False, description="only the newest deployment per vehicle"),
) -> list[DeploymentOut]:
    return links.list_deployments(session, principal, vehicle=vehicle, firmware=firmware, current_only=current)
