"""FastAPI dependencies: database session per request and the authenticated principal.

Write requests (anything but GET/HEAD/OPTIONS) get a writer session, which
on SQLite takes the write lock at BEGIN; the session commits when the
endpoint returns normally and rolls back on any error.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from registry.core.config import API_PREFIX, SESSION_COOKIE
from registry.core.db import Database
from registry.core.security import Principal, csrf_token
from registry.services.access import ensure_user, load_principal
from registry.services.tokens import authenticate, authenticate_web_session
from toolkit.errors import AuthenticationError, PermissionDeniedError

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_session(request: Request) -> Iterator[Session]:
    with get_database(request).transaction(write=request.method not in READ_METHODS) as session:
        yield session


# scope="function": commit runs before the response is sent, so a failed commit becomes the error answer.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


CSRF_HEADER = "X-CSRF-Token"


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthenticationError("use 'Authorization: Bearer <token>'")
        return value.strip()
    return None


def has_credentials(request: Request) -> bool:
    return bool(request.headers.get("authorization") or request.cookies.get(SESSION_COOKIE))


def get_principal(request: Request, session: SessionDep) -> Principal:
    return principal_from_request(request, session)


def principal_from_request(request: Request, session: Session) -> Principal:
    """The caller: bearer token or session cookie; the local user only in embedded mode.

    A cookie is sent by the browser on its own, so API writes it authenticates must also carry the page's
    CSRF token in ``X-CSRF-Token`` (page forms carry it as a field, checked by each form route).
    """
    token = bearer_token(request)
    if token is not None:
        return authenticate(session, token)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        principal = authenticate_web_session(session, cookie)
        if request.method not in READ_METHODS and request.url.path.startswith(API_PREFIX):
            sent = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode(), csrf_token(cookie).encode()):
                raise PermissionDeniedError(f"missing or wrong {CSRF_HEADER}: reload the page")
        return principal
    embedded = getattr(request.app.state, "embedded_user", None)
    if embedded:
        # In-process (embedded) mode only: no socket exists, the caller is the local user.
        return load_principal(session, ensure_user(session, embedded, is_admin=True))
    raise AuthenticationError("authentication required: pass 'Authorization: Bearer <token>'")


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
