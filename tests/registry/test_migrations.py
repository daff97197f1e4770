"""Alembic migrations: upgrade from empty, match the models exactly, downgrade cleanly; both backends."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from registry.core.db import Database
from registry.core.migrate import alembic_config, current_revision, head_revision, upgrade
from registry.models import Base


def test_migrations_build_the_model_schema_and_downgrade(db_url: str) -> None:
    db = Database(db_url)
    try:
        cfg = alembic_config()
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
        assert "package_versions" not in inspect(db.engine).get_table_names()
        upgrade(db.engine)
        assert current_revision(db.engine) == head_revision()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert diff == [], f"models and migrations differ: {diff}"
        upgrade(db.engine)  # idempotent
        assert {"users", "projects", "packages", "package_versions", "channels", "audit_events"} <= set(
            inspect(db.engine).get_table_names()
        )
    finally:
        db.dispose()
