"""Tables for Git sync, CI/CD evidence (evaluations, firmware, deployments) and lineage.

Kept apart from registry/models.py (packages, access, audit) on the same
declarative Base. Evidence rows are never updated: a new status is a new row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from registry.core.db import Base
from registry.models import BigId, UTCDateTime, utcnow


class GitRemote(Base):
    """A Git remote whose release tags become package versions of a project."""

    __tablename__ = "git_remotes"
    __table_args__ = (UniqueConstraint("project_id", "url", name="uq_git_remote"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    url: Mapped[str] = mapped_column(String(1000), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    last_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class SyncedTag(Base):
    """A tag the sync has settled: name -> the tag object it saw, so the next poll skips it."""

    __tablename__ = "synced_tags"
    __table_args__ = (UniqueConstraint("remote_id", "name", name="uq_synced_tag"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    remote_id: Mapped[int] = mapped_column(ForeignKey("git_remotes.id"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    tag_oid: Mapped[str] = mapped_column(String(64))
    commit: Mapped[str] = mapped_column(String(64))
    # version | stage | ignored | error
    outcome: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(Text, default="")
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class VersionDep(Base):
    """A DVC dependency (path + md5) of the pipeline that built a version, from dvc.lock at its commit."""

    __tablename__ = "version_deps"
    __table_args__ = (
        UniqueConstraint("version_id", "path", "md5", name="uq_version_dep"),
        Index("ix_version_deps_md5", "md5"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("package_versions.id"), index=True)
    path: Mapped[str] = mapped_column(String(1000))
    md5: Mapped[str] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(200), default="")
    size: Mapped[int | None] = mapped_column(Integer, nullable=True)


class BagSource(Base):
    """Slice -> source bag, from a ``*.lineage.json`` sidecar seen at a version's commit."""

    __tablename__ = "bag_sources"
    __table_args__ = (
        UniqueConstraint("version_id", "slice_path", "source_md5", name="uq_bag_source"),
        Index("ix_bag_sources_source_md5", "source_md5"),
        Index("ix_bag_sources_slice_md5", "slice_md5"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("package_versions.id"), index=True)
    slice_path: Mapped[str] = mapped_column(String(1000))
    slice_md5: Mapped[str | None] = mapped_column(String(64), nullable=True)
    source_path: Mapped[str] = mapped_column(String(1000), default="")
    source_md5: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Evaluation(Base):
    """Evidence from a simulation/CI run against one version; never edited."""

    __tablename__ = "evaluations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("package_versions.id"), index=True)
    suite: Mapped[str] = mapped_column(String(200))
    passed: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    verdict: Mapped[str] = mapped_column(String(10))  # pass | fail
    ci_run_url: Mapped[str] = mapped_column(String(2000), default="")
    posted_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class FirmwareImage(Base):
    __tablename__ = "firmware_images"
    # Unique per project: a global name would tell one project which names another uses.
    __table_args__ = (UniqueConstraint("project_id", "name", "version", name="uq_firmware"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    ci_run_url: Mapped[str] = mapped_column(String(2000), default="")
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class FirmwarePackage(Base):
    __tablename__ = "firmware_packages"
    __table_args__ = (UniqueConstraint("firmware_id", "version_id", name="uq_firmware_package"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    firmware_id: Mapped[int] = mapped_column(ForeignKey("firmware_images.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("package_versions.id"), index=True)


class Deployment(Base):
    """A firmware image observed on a vehicle; a later row supersedes an earlier one."""

    __tablename__ = "deployments"
    __table_args__ = (Index("ix_deployments_vehicle_time", "vehicle", "deployed_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    vehicle: Mapped[str] = mapped_column(String(200))
    firmware_id: Mapped[int] = mapped_column(ForeignKey("firmware_images.id"), index=True)
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    site: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(40), default="deployed")
    ci_run_url: Mapped[str] = mapped_column(String(2000), default="")
    recorded_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
