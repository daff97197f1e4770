"""Project roles and per-package grants/shares."""

from __future__ import annotations

from fastapi import APIRouter, Query, status

from registry.api.deps import CurrentPrincipal, SessionDep
from registry.models import Membership, PackageGrant
from registry.schemas import GrantIn, GrantOut, MemberIn, MemberOut
from registry.services import access, packages

router = APIRouter(tags=["access"])


def member_out(m: Membership, project: str) -> MemberOut:
    return MemberOut(user=m.user.name, kind=m.user.kind, role=m.role, project=project)


def grant_out(g: PackageGrant, package: str) -> GrantOut:
    return GrantOut(
        package=package,
        user=g.user.name if g.user else None,
        project=g.grantee_project.name if g.grantee_project else None,
        role=g.role,
        created_at=g.created_at,
    )


@router.get("/projects/{project}/members", response_model=list[MemberOut])
def list_members(project: str, principal: CurrentPrincipal, session: SessionDep) -> list[MemberOut]:
    p = access.get_project(session, principal, project)
    return [member_out(m, p.name) for m in access.list_members(session, principal, p)]


@router.put("/projects/{project}/members/{user}", response_model=MemberOut)
def grant_member(
    project: str, user: str, body: MemberIn, principal: CurrentPrincipal, session: SessionDep
) -> MemberOut:
    p = access.get_project(session, principal, project)
    return member_out(access.grant_role(session, principal, p, user, body.role), p.name)


@router.delete("/projects/{project}/members/{user}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_member(project: str, user: str, principal: CurrentPrincipal, session: SessionDep) -> None:
    p = access.get_project(session, principal, project)
    access.revoke_role(session, principal, p, user)


@router.get("/projects/{project}/packages/{name}/grants", response_model=list[GrantOut])
def list_grants(project: str, name: str, principal: CurrentPrincipal, session: SessionDep) -> list[GrantOut]:
    pkg = packages.get_package(session, principal, project, name)
    return [grant_out(g, f"{project}/{name}") for g in access.list_grants(session, principal, pkg)]


@router.post("/projects/{project}/packages/{name}/grants", response_model=GrantOut)
def grant_package(project: str, name: str, body: GrantIn, principal: CurrentPrincipal, session: SessionDep) -> GrantOut:
    pkg = packages.get_package(session, principal, project, name)
    g = access.grant_package(session, principal, pkg, user_name=body.user, project_name=body.project, role=body.role)
    return grant_out(g, f"{project}/{name}")


@router.delete("/projects/{project}/packages/{name}/grants", status_code=status.HTTP_204_NO_CONTENT)
def revoke_package(
    project: str,
    name: str,
    principal: CurrentPrincipal,
    session: SessionDep,
    user: str | None = Query(default=None),
    grantee_project: str | None = Query(default=None, alias="project"),
) -> None:
    pkg = packages.get_package(session, principal, project, name)
    access.revoke_package(session, principal, pkg, user_name=user, project_name=grantee_project)
