"""Lineage: trace a vehicle, firmware, package version or bag through the whole chain."""

from __future__ import annotations

from fastapi import APIRouter

from registry.api.deps import CurrentPrincipal, SessionDep
from registry.schemas_links import TraceOut
from registry.services import lineage

router = APIRouter(tags=["lineage"])


@router.get("/lineage/{subject:path}", response_model=TraceOut)
def trace(subject: str, principal: CurrentPrincipal, session: SessionDep) -> TraceOut:
    """``vehicle:ID``, ``firmware:NAME@V``, ``package:[PROJECT/]NAME@V`` or ``bag:MD5``."""
    return lineage.trace(session, principal, subject)
