"""API tokens: create (shown once), authenticate, list, revoke."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from registry.core.security import (
    ROLE_ACTIONS,
    Action,
    Principal,
    Role,
    hash_token,
    new_token,
    parse_scopes,
    token_matches,
    token_prefix,
)
from registry.models import ApiToken, Membership, Project, User, WebSession, utcnow
from registry.services.access import (
    authorize_project,
    check_name,
    ensure_user,
    get_user,
    require_global_admin,
)
from registry.services.audit import record_audit
from toolkit.errors import AuthenticationError, ConflictError, NotFoundError, PermissionDeniedError, UserError


@dataclass(frozen=True)
class NewToken:
    token: str  # the only time the secret exists outside the client
    row: ApiToken


def _describe(row: ApiToken) -> dict[str, object]:
    return {
        "prefix": row.prefix,
        "name": row.name,
        "user": row.user.name,
        "project": row.project.name if row.project else None,
        "scopes": row.scopes,
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
    }


def _insert(
    session: Session,
    user: User,
    name: str,
    project: Project | None,
    scopes: list[str] | None,
    expires_at: datetime | None,
) -> NewToken:
    token, prefix, digest = new_token()
    row = ApiToken(
        prefix=prefix,
        token_hash=digest,
        name=name,
        user_id=user.id,
        project_id=project.id if project else None,
        scopes=scopes,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    set_committed_value(row, "user", user)
    set_committed_value(row, "project", project)
    return NewToken(token, row)


def bootstrap_admin(session: Session, name: str = "admin", token_name: str = "bootstrap") -> NewToken:
    """First start of a server: an admin user and its token (printed once by the caller)."""
    user = ensure_user(session, check_name("user", name), is_admin=True)
    new = _insert(session, user, token_name, None, None, None)
    record_audit(session, "system", "token.create", f"token:{new.row.prefix}", None, _describe(new.row))
    return new


def has_admin_token(session: Session) -> bool:
    stmt = (
        select(ApiToken.id)
        .join(User, User.id == ApiToken.user_id)
        .where(User.is_admin.is_(True), ApiToken.revoked_at.is_(None))
        .limit(1)
    )
    return session.execute(stmt).first() is not None


def create_token(
    session: Session,
    actor: Principal,
    *,
    name: str,
    user_name: str | None = None,
    project: Project | None = None,
    scopes: list[str] | None = None,
    robot: bool = False,
    expires_days: int | None = None,
) -> NewToken:
    """A token for oneself, for another user (admin), or a CI robot token scoped to one project.

    A robot token needs ``project`` and ``scopes``; its robot user is created on first use of the name.
    """
    check_name("token", name)
    if expires_days is not None and expires_days <= 0:
        raise UserError("expiry must be a positive number of days")
    try:
        clean_scopes = parse_scopes(scopes) if scopes is not None else None
    except ValueError as exc:
        raise UserError(str(exc)) from None
    # A new token's rights are a subset of the creating token's: scopes, project and expiry.
    if actor.scopes is not None:
        if clean_scopes is None:
            clean_scopes = sorted(actor.scopes)
        beyond = sorted(set(clean_scopes) - actor.scopes)
        if beyond:
            raise PermissionDeniedError(f"this token cannot grant scopes it does not hold: {', '.join(beyond)}")
    expires_at = utcnow() + timedelta(days=expires_days) if expires_days else None
    if actor.expires_at is not None and (expires_at is None or expires_at > actor.expires_at):
        expires_at = actor.expires_at  # never outlives the token that made it
    if robot:
        if project is None or not clean_scopes:
            raise UserError("a robot token needs a project and at least one scope")
        authorize_project(actor, project, Action.access_manage)
        role = actor.role_in(project.id)
        held = {a.value for a in ROLE_ACTIONS[role]} if role else set()
        beyond = sorted(set(clean_scopes) - held)
        if beyond:
            raise PermissionDeniedError(
                f"a robot cannot get scopes beyond your role in {project.name}: {', '.join(beyond)}"
            )
        user = session.execute(select(User).where(User.name == name)).scalar_one_or_none()
        if user is None:
            user = ensure_user(session, name, kind="robot")
        elif user.kind != "robot":
            raise ConflictError(f"{name!r} is a user, not a robot")
    elif user_name is not None and user_name != actor.name:
        require_global_admin(actor)
        user = get_user(session, user_name)
    else:
        if actor.token_project_id is not None:
            raise PermissionDeniedError("a project-scoped token cannot create tokens")
        user = get_user(session, actor.name)
        if project is not None:
            authorize_project(actor, project, Action.packages_read)
    new = _insert(session, user, name, project, clean_scopes, expires_at)
    record_audit(session, actor.actor, "token.create", f"token:{new.row.prefix}", None, _describe(new.row))
    return new


# Built once: statement construction costs more than the indexed lookup itself.
_AUTH_COLUMNS = (
    select(
        ApiToken.id,
        ApiToken.token_hash,
        ApiToken.revoked_at,
        ApiToken.expires_at,
        ApiToken.project_id,
        ApiToken.scopes,
        User.id,
        User.name,
        User.kind,
        User.is_admin,
        Membership.project_id,
        Membership.role,
    )
    .join(User, User.id == ApiToken.user_id)
    .outerjoin(Membership, Membership.user_id == User.id)
)
_AUTH = _AUTH_COLUMNS.where(ApiToken.prefix == bindparam("prefix"))
_AUTH_BY_ID = _AUTH_COLUMNS.where(ApiToken.id == bindparam("token_id"))
SESSION_HOURS = 12


def authenticate(session: Session, token: str) -> Principal:
    """The principal behind a raw token; AuthenticationError for anything unusable.

    One Core statement (token, its user, and the user's memberships): this runs on every request.
    """
    prefix = token_prefix(token)
    if prefix is None:
        raise AuthenticationError("malformed token")
    rows = session.connection().execute(_AUTH, {"prefix": prefix}).all()
    if not rows or not token_matches(token, rows[0][1]):
        raise AuthenticationError("invalid token")
    return _principal(rows)


def _principal(rows: Any) -> Principal:
    token_id, _, revoked_at, expires_at, token_project, scopes, user_id, name, kind, is_admin = rows[0][:10]
    if revoked_at is not None:
        raise AuthenticationError("token was revoked")
    if expires_at is not None and expires_at <= utcnow():
        raise AuthenticationError("token expired")
    roles = {pid: Role(role) for *_, pid, role in rows if pid is not None}
    if kind == "robot" and token_project is not None:
        roles = {token_project: Role.admin}  # a robot's power is exactly its scopes inside its project
    return Principal(
        user_id=user_id,
        name=name,
        is_admin=bool(is_admin) and token_project is None,
        kind=kind,
        roles=roles,
        token_project_id=token_project,
        scopes=frozenset(scopes) if scopes is not None else None,
        token_id=token_id,
        expires_at=expires_at,
    )


# --- browser sessions ------------------------------------------------------------
def open_web_session(session: Session, token: str) -> str:
    """Log a browser in with an API token: a new random session id for its cookie (the token stays with the user)."""
    principal = authenticate(session, token)
    secret = f"pls_{secrets.token_urlsafe(32)}"
    expires = utcnow() + timedelta(hours=SESSION_HOURS)
    if principal.expires_at is not None and principal.expires_at < expires:
        expires = principal.expires_at
    assert principal.token_id is not None
    session.add(WebSession(session_hash=hash_token(secret), token_id=principal.token_id, expires_at=expires))
    session.flush()
    return secret


def authenticate_web_session(session: Session, secret: str) -> Principal:
    """The principal behind a session cookie: the session and the token it was opened with must both be live."""
    row = session.execute(select(WebSession).where(WebSession.session_hash == hash_token(secret))).scalar_one_or_none()
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        raise AuthenticationError("your session ended: log in again")
    rows = session.connection().execute(_AUTH_BY_ID, {"token_id": row.token_id}).all()
    if not rows:
        raise AuthenticationError("your session ended: log in again")
    return _principal(rows)


def close_web_session(session: Session, secret: str) -> None:
    row = session.execute(select(WebSession).where(WebSession.session_hash == hash_token(secret))).scalar_one_or_none()
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()


def list_tokens(session: Session, actor: Principal, *, all_users: bool = False) -> list[ApiToken]:
    stmt = select(ApiToken).order_by(ApiToken.id)
    if all_users:
        require_global_admin(actor)
    else:
        # Robots a project admin created are listed with that project's tokens.
        managed = [pid for pid, role in actor.roles.items() if role.value == "admin"]
        cond = ApiToken.user_id == actor.user_id
        if managed and actor.token_project_id is None:
            cond = cond | (ApiToken.project_id.in_(managed) & ApiToken.user.has(User.kind == "robot"))
        stmt = stmt.where(cond)
    return list(session.execute(stmt).unique().scalars())


def revoke_token(session: Session, actor: Principal, prefix: str) -> ApiToken:
    row = session.execute(select(ApiToken).where(ApiToken.prefix == prefix)).unique().scalar_one_or_none()
    visible = row is not None and (
        actor.is_admin
        or row.user_id == actor.user_id
        or (
            row.project_id is not None
            and row.user.kind == "robot"
            and actor.token_project_id is None
            and actor.roles.get(row.project_id) is not None
            and actor.roles[row.project_id].value == "admin"
        )
    )
    if row is None or not visible:
        raise NotFoundError(f"token {prefix!r} not found")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        record_audit(session, actor.actor, "token.revoke", f"token:{row.prefix}", {"revoked": False}, {"revoked": True})
    return row
