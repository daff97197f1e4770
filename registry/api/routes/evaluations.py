"""Evaluations: simulation/CI evidence about one package version (append-only)."""

from __future__ import annotations

from fastapi import APIRouter, status

from registry.api.deps import CurrentPrincipal, SessionDep
from registry.schemas_links import EvaluationIn, EvaluationOut
from registry.services import links

router = APIRouter(tags=["evaluations"])
BASE = "/projects/{project}/packages/{name}"


@router.post(
    f"{BASE}/versions/{{version}}/evaluations", response_model=EvaluationOut, status_code=status.HTTP_201_CREATED
)
def add_evaluation(
    project: str, name: str, version: str, body: EvaluationIn, principal: CurrentPrincipal, session: SessionDep
) -> EvaluationOut:
    return links.add_evaluation(session, principal, project, name, version, body)


@router.get(f"{BASE}/versions/{{version}}/evaluations", response_model=list[EvaluationOut])
def list_version_evaluations(
    project: str, name: str, version: str, principal: CurrentPrincipal, session: SessionDep
) -> list[EvaluationOut]:
    return links.list_evaluations(session, principal, project, name, version)


@router.get(f"{BASE}/evaluations", response_model=list[EvaluationOut])
def list_package_evaluations(
    project: str, name: str, principal: CurrentPrincipal, session: SessionDep
) -> list[EvaluationOut]:
    return links.list_evaluations(session, principal, project, name)
