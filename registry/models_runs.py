"""Tables for experiments registered with the registry and the runs started from the web.

A run keeps its executor job id, so a restarted registry re-polls the same job;
a retry is a new attempt of the same run that resumes from its last checkpoint.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from registry.core.db import Base
from registry.models import BigId, UTCDateTime, utcnow


class Experiment(Base):
    """An experiment repository (URL or path) that maintainers may run from the web."""

    __tablename__ = "experiments"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_experiment_name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    repo_url: Mapped[str] = mapped_column(String(1000))
    ref: Mapped[str] = mapped_column(String(200), default="")  # empty: the repository's default branch
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Run(Base):
    """One run of an experiment with parameter overrides; status mirrors its executor job."""

    __tablename__ = "experiment_runs"
    __table_args__ = (UniqueConstraint("experiment_id", "number", name="uq_run_number"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    overrides: Mapped[list[str]] = mapped_column(JSON, default=list)
    executor: Mapped[str] = mapped_column(String(20))
    job_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # pending | running | succeeded | failed | stopped
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    message: Mapped[str] = mapped_column(Text, default="")
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    workdir: Mapped[str] = mapped_column(String(2000))
    commit: Mapped[str] = mapped_column(String(64), default="")
    resources: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    log_tail: Mapped[str] = mapped_column(Text, default="")
    released_as: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
