"""Trust roots: the public keys a project accepts release signatures from

Revision ID: 0500
Revises: 0400
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0500"
down_revision: str | None = "0400"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "trust_roots",
        sa.Column("id", BigId, nullable=False),
        sa.Column("project_id", BigId, sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("keyid", sa.String(length=64), nullable=False),
        sa.Column("public_pem", sa.Text(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("added_by", sa.String(length=100), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "keyid", name="uq_trust_root"),
    )
    op.create_index("ix_trust_roots_project_id", "trust_roots", ["project_id"])


def downgrade() -> None:
    op.drop_index("ix_trust_roots_project_id", table_name="trust_roots")
    op.drop_table("trust_roots")
