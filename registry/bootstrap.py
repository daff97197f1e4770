"""First-start set-up of a server: a registry admin and its token."""

from __future__ import annotations

from registry.core.config import get_settings
from registry.core.db import Database
from registry.core.migrate import upgrade
from registry.services.tokens import bootstrap_admin, has_admin_token


def ensure_admin_token(db: Database) -> str | None:
    """A new admin token when no admin has one yet (first start), else None."""
    with db.transaction() as session:
        if has_admin_token(session):
            return None
        return bootstrap_admin(session).token


def bootstrap_token(user: str = "admin") -> tuple[str, str]:
    """An admin token written straight to the configured database (operator on the server)."""
    db = Database(get_settings().effective_database_url)
    try:
        upgrade(db.engine)
        with db.transaction() as session:
            new = bootstrap_admin(session, name=user, token_name="bootstrap")
            return new.token, new.row.prefix
    finally:
        db.dispose()
