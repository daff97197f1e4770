"""API tokens: the secret is in the create response only."""

from __future__ import annotations

from fastapi import APIRouter, Query, status
from sqlalchemy import select

from registry.api.deps import CurrentPrincipal, SessionDep
from registry.models import ApiToken, Project
from registry.schemas import NewTokenOut, TokenIn, TokenOut
from registry.services import access, tokens
from toolkit.errors import NotFoundError

router = APIRouter(tags=["tokens"])


def token_out(row: ApiToken) -> TokenOut:
    return TokenOut(
        prefix=row.prefix,
        name=row.name,
        user=row.user.name,
        kind=row.user.kind,
        project=row.project.name if row.project else None,
        scopes=row.scopes,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(
    principal: CurrentPrincipal, session: SessionDep, all_users: bool = Query(default=False, alias="all")
) -> list[TokenOut]:
    return [token_out(t) for t in tokens.list_tokens(session, principal, all_users=all_users)]


@router.post("/tokens", response_model=NewTokenOut, status_code=status.HTTP_201_CREATED)
def create_token(body: TokenIn, principal: CurrentPrincipal, session: SessionDep) -> NewTokenOut:
    project: Project | None = None
    if body.project is not None:
        project = session.execute(select(Project).where(Project.name == body.project)).scalar_one_or_none()
        if project is None:
            raise NotFoundError(f"project {body.project!r} not found")
        access.get_project(session, principal, body.project)
    new = tokens.create_token(
        session,
        principal,
        name=body.name,
        user_name=body.user,
        project=project,
        scopes=body.scopes,
        robot=body.robot,
        expires_days=body.expires_days,
    )
    return NewTokenOut(token=new.token, **token_out(new.row).model_dump())


@router.delete("/tokens/{prefix}", response_model=TokenOut)
def revoke_token(prefix: str, principal: CurrentPrincipal, session: SessionDep) -> TokenOut:
    return token_out(tokens.revoke_token(session, principal, prefix))
