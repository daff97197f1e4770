"""Firmware images: immutable sets of exact package versions."""

from __future__ import annotations

from fastapi import APIRouter, Query, status

from registry.api.deps import CurrentPrincipal, SessionDep
from registry.schemas_links import FirmwareIn, FirmwareOut
from registry.services import links

router = APIRouter(tags=["firmware"])


@router.post("/projects/{project}/firmware", response_model=FirmwareOut, status_code=status.HTTP_201_CREATED)
def add_firmware(project: str, body: FirmwareIn, principal: CurrentPrincipal, session: SessionDep) -> FirmwareOut:
    return links.add_firmware(session, principal, project, body)


@router.get("/firmware", response_model=list[FirmwareOut])
def list_firmware(
    principal: CurrentPrincipal, session: SessionDep, project: str | None = Query(default=None, max_length=100)
) -> list[FirmwareOut]:
    return links.list_firmware(session, principal, project)


@router.get("/firmware/{name}/{version}", response_model=FirmwareOut)
def get_firmware(name: str, version: str, principal: CurrentPrincipal, session: SessionDep) -> FirmwareOut:
    return links.firmware_out(session, links.find_firmware(session, principal, f"{name}@{version}"))
