"""Tokens, roles and actions: the vocabulary of access control.

A token reads ``plt_<prefix>_<secret>``. The prefix is public and finds the
row; only SHA-256 of the whole token is stored, so a copy of the database
gives nobody a usable token. SHA-256 (not a slow password hash) is right
here because the secret has 256 bits of entropy: nothing to brute-force.

Roles per project, lowest first, and how they map to what users know:

=========== ================= =====================
role        MLflow permission W&B registry role
=========== ================= =====================
viewer      READ              viewer / restricted viewer
developer   USE + EDIT        member
maintainer  EDIT + protected  member with protected-alias rights
admin       MANAGE            admin
=========== ================= =====================
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

TOKEN_PREFIX = "plt"


class Role(StrEnum):
    viewer = "viewer"
    developer = "developer"
    maintainer = "maintainer"
    admin = "admin"

    @property
    def rank(self) -> int:
        return ROLE_ORDER.index(self)


ROLE_ORDER: tuple[Role, ...] = (Role.viewer, Role.developer, Role.maintainer, Role.admin)


class Action(StrEnum):
    """What a request wants to do; also the scopes a robot token may carry."""

    packages_read = "packages:read"
    packages_write = "packages:write"  # publish versions, move unprotected channels
    channels_protected = "channels:protected"  # move protected channels (production)
    packages_manage = "packages:manage"  # deprecate, grants, shares
    evaluations_read = "evaluations:read"
    evaluations_write = "evaluations:write"
    deployments_write = "deployments:write"
    firmware_write = "firmware:write"
    access_manage = "access:manage"  # members, robot tokens
    audit_read = "audit:read"
    data_read = "data:read"  # bags, datasets and the catalogue of the project's data repo
    data_write = "data:write"
    registry_admin = "admin"  # registry-wide admin actions (users, projects, all tokens, audit); a scope, not a role


_VIEWER = {Action.packages_read, Action.evaluations_read, Action.data_read}
_DEVELOPER = _VIEWER | {
    Action.data_write,
    Action.packages_write,
    Action.evaluations_write,
    Action.deployments_write,
    Action.firmware_write,
}
_MAINTAINER = _DEVELOPER | {Action.channels_protected, Action.packages_manage}
_ADMIN = _MAINTAINER | {Action.access_manage, Action.audit_read}

ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.viewer: frozenset(_VIEWER),
    Role.developer: frozenset(_DEVELOPER),
    Role.maintainer: frozenset(_MAINTAINER),
    Role.admin: frozenset(_ADMIN),
}
ALL_SCOPES: tuple[str, ...] = tuple(a.value for a in Action)


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise ValueError(f"unknown role {value!r}: use one of {', '.join(r.value for r in ROLE_ORDER)}") from None


def parse_scopes(values: list[str]) -> list[str]:
    bad = [v for v in values if v not in ALL_SCOPES]
    if bad:
        raise ValueError(f"unknown scope {bad[0]!r}: use one of {', '.join(ALL_SCOPES)}")
    return sorted(set(values))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str, str]:
    """A fresh token: (token shown once, prefix stored, hash stored)."""
    prefix = secrets.token_hex(6)
    token = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    return token, prefix, hash_token(token)


def token_prefix(token: str) -> str | None:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1]


def token_matches(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_token(token), stored_hash)


def csrf_token(session_token: str) -> str:
    """Form token tied to the browser's session token (double-submit, never stored)."""
    return hashlib.sha256(b"pitlane-csrf:" + session_token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is asking: a user (with project roles) or a robot token limited to a project and scopes."""

    user_id: int
    name: str
    is_admin: bool = False
    kind: str = "human"
    roles: dict[int, Role] = field(default_factory=dict)  # project id -> role
    token_project_id: int | None = None
    scopes: frozenset[str] | None = None  # None: whatever the roles allow
    token_id: int | None = None
    expires_at: datetime | None = None  # of the token in use: tokens it creates expire no later

    @property
    def actor(self) -> str:
        return self.name

    def role_in(self, project_id: int) -> Role | None:
        if self.token_project_id is not None and self.token_project_id != project_id:
            return None
        if self.is_admin:
            return Role.admin
        return self.roles.get(project_id)

    def scope_allows(self, action: Action) -> bool:
        return self.scopes is None or action.value in self.scopes
