"""Projects: the unit of membership; packages live in one project."""

from __future__ import annotations

from fastapi import APIRouter, status

from registry.api.deps import CurrentPrincipal, SessionDep
from registry.models import Project
from registry.schemas import (
    ProjectIn,
    ProjectOut,
    ProtectedChannelsIn,
    TrustRootIn,
    TrustRootOut,
    TrustRootRevokeIn,
    UserIn,
    UserOut,
)
from registry.services import access, signatures

router = APIRouter(tags=["projects"])


def project_out(project: Project, role: str | None) -> ProjectOut:
    return ProjectOut(
        name=project.name,
        description=project.description,
        protected_channels=list(project.protected_channels or []),
        created_at=project.created_at,
        role=role,
    )


@router.get("/projects", response_model=list[ProjectOut])
def list_projects(principal: CurrentPrincipal, session: SessionDep) -> list[ProjectOut]:
    out = []
    for p in access.list_projects(session, principal):
        role = principal.role_in(p.id)
        out.append(project_out(p, role.value if role else None))
    return out


@router.post("/projects", response_model=ProjectOut, status_code=status.HTTP_201_CREATED)
def create_project(body: ProjectIn, principal: CurrentPrincipal, session: SessionDep) -> ProjectOut:
    project = access.create_project(session, principal, body.name, body.description)
    return project_out(project, "admin")


@router.get("/projects/{project}", response_model=ProjectOut)
def get_project(project: str, principal: CurrentPrincipal, session: SessionDep) -> ProjectOut:
    p = access.get_project(session, principal, project)
    role = principal.role_in(p.id)
    return project_out(p, role.value if role else None)


@router.put("/projects/{project}/protected-channels", response_model=ProjectOut)
def set_protected_channels(
    project: str, body: ProtectedChannelsIn, principal: CurrentPrincipal, session: SessionDep
) -> ProjectOut:
    p = access.get_project(session, principal, project)
    access.set_protected_channels(session, principal, p, body.channels)
    role = principal.role_in(p.id)
    return project_out(p, role.value if role else None)


@router.get("/projects/{project}/trust-roots", response_model=list[TrustRootOut])
def list_trust_roots(project: str, principal: CurrentPrincipal, session: SessionDep) -> list[TrustRootOut]:
    p = access.get_project(session, principal, project)
    return [TrustRootOut.model_validate(r) for r in signatures.list_roots(session, p)]


@router.post("/projects/{project}/trust-roots", response_model=TrustRootOut, status_code=status.HTTP_201_CREATED)
def add_trust_root(project: str, body: TrustRootIn, principal: CurrentPrincipal, session: SessionDep) -> TrustRootOut:
    p = access.get_project(session, principal, project)
    return TrustRootOut.model_validate(signatures.add_root(session, principal, p, body.public_key))


@router.post("/projects/{project}/trust-roots/{keyid}/revoke", response_model=TrustRootOut)
def revoke_trust_root(
    project: str, keyid: str, body: TrustRootRevokeIn, principal: CurrentPrincipal, session: SessionDep
) -> TrustRootOut:
    p = access.get_project(session, principal, project)
    return TrustRootOut.model_validate(signatures.revoke_root(session, principal, p, keyid, body.revoked_at))


@router.get("/users", response_model=list[UserOut], tags=["access"])
def list_users(principal: CurrentPrincipal, session: SessionDep) -> list[UserOut]:
    return [
        UserOut(name=u.name, kind=u.kind, is_admin=u.is_admin, created_at=u.created_at)
        for u in access.list_users(session, principal)
    ]


@router.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED, tags=["access"])
def create_user(body: UserIn, principal: CurrentPrincipal, session: SessionDep) -> UserOut:
    u = access.create_user(session, principal, body.name, is_admin=body.is_admin)
    return UserOut(name=u.name, kind=u.kind, is_admin=u.is_admin, created_at=u.created_at)
