"""Database tables of the registry (SQLAlchemy 2, typed mappings).

Published versions are immutable: nothing here is ever deleted by the
service; deprecation and revocation are timestamps, and every write leaves
an :class:`AuditEvent`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from registry.core.db import Base

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware in Python on every backend (SQLite hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # "human" or "robot" (CI identities behind project-scoped tokens).
    kind: Mapped[str] = mapped_column(String(10), default="human")
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    memberships: Mapped[list[Membership]] = relationship(back_populates="user", lazy="raise")


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    protected_channels: Mapped[list[str]] = mapped_column(JSON, default=lambda: ["production"])
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Membership(Base):
    """A user's role in a project: viewer < developer < maintainer < admin."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "project_id", name="uq_membership"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User] = relationship(back_populates="memberships", lazy="raise")
    project: Mapped[Project] = relationship(lazy="joined")


class ApiToken(Base):
    """An API token: only its SHA-256 is stored; ``prefix`` finds the row."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100), default="")
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # Robot tokens: limited to one project and to the listed scopes.
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"), nullable=True)
    scopes: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    user: Mapped[User] = relationship(lazy="joined")
    project: Mapped[Project | None] = relationship(lazy="joined")


class WebSession(Base):
    """A browser login: the cookie holds a random session id (stored as SHA-256), never the API token.

    Logging out revokes the row; revoking or expiring the token it was opened with ends it too.
    """

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Package(Base):
    __tablename__ = "packages"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_package_name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    project: Mapped[Project] = relationship(lazy="joined")


class PackageVersion(Base):
    """One published, immutable version; ``content_hash`` decides idempotency."""

    __tablename__ = "package_versions"
    __table_args__ = (UniqueConstraint("package_id", "version", name="uq_package_version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id"), index=True)
    version: Mapped[str] = mapped_column(String(200))
    content_hash: Mapped[str] = mapped_column(String(64))
    commit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tag: Mapped[str | None] = mapped_column(String(300), nullable=True)
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    deprecated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    deprecated_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    deprecation_reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    package: Mapped[Package] = relationship(lazy="raise")
    files: Mapped[list[PackageFile]] = relationship(
        back_populates="version", lazy="selectin", order_by="PackageFile.path"
    )


class PackageFile(Base):
    __tablename__ = "package_files"
    __table_args__ = (UniqueConstraint("version_id", "path", name="uq_package_file"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("package_versions.id"), index=True)
    path: Mapped[str] = mapped_column(String(1000))
    md5: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    # Where the bytes are: a DVC remote object (s3://...) or a local path/file:// URL.
    url: Mapped[str] = mapped_column(Text, default="")

    version: Mapped[PackageVersion] = relationship(back_populates="files", lazy="raise")


class Channel(Base):
    """A movable name (staging, production, ...) pointing at one version."""

    __tablename__ = "channels"
    __table_args__ = (UniqueConstraint("package_id", "name", name="uq_channel"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    version_id: Mapped[int] = mapped_column(ForeignKey("package_versions.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100))


class PackageGrant(Base):
    """Access to one package for a user, or for every member of another project (a share)."""

    __tablename__ = "package_grants"
    __table_args__ = (
        UniqueConstraint("package_id", "user_id", name="uq_grant_user"),
        UniqueConstraint("package_id", "grantee_project_id", name="uq_grant_project"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    grantee_project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"), nullable=True, index=True)
    role: Mapped[str] = mapped_column(String(20), default="viewer")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User | None] = relationship(lazy="joined")
    grantee_project: Mapped[Project | None] = relationship(lazy="joined")


class AuditEvent(Base):
    """Append-only, hash-chained record of every write."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_target", "target"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(100), index=True)
    target: Mapped[str] = mapped_column(String(500))
    before: Mapped[Any] = mapped_column(JSON, nullable=True)
    after: Mapped[Any] = mapped_column(JSON, nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """One row: the chain's last sequence number and hash, locked by each appender."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64))


# Tables of other concerns live in their own modules, which import this one. Loading them here makes
# Base.metadata the whole schema for whoever imports registry.models (Alembic's env.py, the migration
# test run on its own), not only when something else happened to import them first.
from registry import models_links, models_runs  # noqa: E402, F401


class TrustRoot(Base):
    """A public key whose release signatures a project accepts (toolkit/release/signing.py).

    Revoking keeps the row: versions signed before ``revoked_at`` stay verified (a rotation), later
    ones become invalid.
    """

    __tablename__ = "trust_roots"
    __table_args__ = (UniqueConstraint("project_id", "keyid", name="uq_trust_root"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    keyid: Mapped[str] = mapped_column(String(64))
    public_pem: Mapped[str] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    added_by: Mapped[str] = mapped_column(String(100))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
