"""FastAPI dependencies: database session per request and the authenticated principal.

Write requests (anything but GET/HEAD/OPTIONS) get a writer session, which
on SQLite takes the write lock at BEGIN; the session commits when the
endpoint returns normally and rolls back on any error.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from registry.core.config import SESSION_COOKIE
from registry.core.db import Database
from registry.core.security import Principal
from registry.services.access import ensure_user, load_principal
from registry.services.tokens import authenticate
from toolkit.errors import AuthenticationError

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_session(request: Request) -> Iterator[Session]:
    with get_database(request).transaction(write=request.method not in READ_METHODS) as session:
        yield session


# scope="function": commit runs before the response is sent, so a failed commit becomes the error answer.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthenticationError("use 'Authorization: Bearer <token>'")
        return value.strip()
    return request.cookies.get(SESSION_COOKIE) or None


def has_credentials(request: Request) -> bool:
    return bool(request.headers.get("authorization") or request.cookies.get(SESSION_COOKIE))


def get_principal(request: Request, session: SessionDep) -> Principal:
    return principal_from_request(request, session)


def principal_from_request(request: Request, session: Session) -> Principal:
    """The caller: bearer token or session cookie; the local user only in embedded mode."""
    token = bearer_token(request)
    if token is not None:
        return authenticate(session, token)
    embedded = getattr(request.app.state, "embedded_user", None)
    if embedded:
        # In-process (embedded) mode only: no socket exists, the caller is the local user.
        return load_principal(session, ensure_user(session, embedded, is_admin=True))
    raise AuthenticationError("authentication required: pass 'Authorization: Bearer <token>'")


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
