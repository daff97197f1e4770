"""Browser sessions (the cookie holds a session id, not the API token); firmware names unique per project

Revision ID: 0400
Revises: 0300
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0400"
down_revision: str | None = "0300"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id", BigId, nullable=False),
        sa.Column("session_hash", sa.String(length=64), nullable=False),
        sa.Column("token_id", BigId, sa.ForeignKey("api_tokens.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_hash"),
    )
    op.create_index("ix_web_sessions_token_id", "web_sessions", ["token_id"])
    with op.batch_alter_table("firmware_images") as batch:
        batch.drop_constraint("uq_firmware", type_="unique")
        batch.create_unique_constraint("uq_firmware", ["project_id", "name", "version"])


def downgrade() -> None:
    with op.batch_alter_table("firmware_images") as batch:
        batch.drop_constraint("uq_firmware", type_="unique")
        batch.create_unique_constraint("uq_firmware", ["name", "version"])
    op.drop_table("web_sessions")
