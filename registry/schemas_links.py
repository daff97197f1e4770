"""HTTP bodies for Git remotes/sync, evaluations, firmware, deployments and lineage."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, model_validator

from registry.web.safety import is_http_url


def _http_or_empty(value: str) -> str:
    if value and not is_http_url(value):
        raise ValueError("must be an http:// or https:// URL")
    return value


# Stored URLs that pages render as links: http(s) only (a javascript: link would be stored XSS).
HttpUrlText = Annotated[str, Field(max_length=2000), AfterValidator(_http_or_empty)]


# --- remotes and sync -----------------------------------------------------
class RemoteIn(BaseModel):
    url: str = Field(min_length=1, max_length=1000, description="Git URL of an experiment repository")


class RemoteOut(BaseModel):
    id: int
    project: str
    url: str
    created_at: datetime
    created_by: str
    last_synced_at: datetime | None = None
    last_error: str | None = None


class SyncReportOut(BaseModel):
    remote_id: int
    url: str
    seen: int = Field(description="new or moved release tags this sync found")
    versions: list[str]
    channels: list[str]
    ignored: list[str]
    errors: list[str]


class SyncedTagOut(BaseModel):
    name: str
    commit: str
    outcome: str
    detail: str
    synced_at: datetime


class WebhookOut(BaseModel):
    event: str
    synced: list[SyncReportOut] = Field(default_factory=list)


# --- evaluations ----------------------------------------------------------
class EvaluationIn(BaseModel):
    suite: str = Field(min_length=1, max_length=200, description="simulation/test suite name")
    passed: int = Field(ge=0, le=2**31)
    failed: int = Field(ge=0, le=2**31)
    total: int = Field(ge=0, le=2**31)
    metrics: dict[str, Any] = Field(default_factory=dict, max_length=1000)
    verdict: Literal["pass", "fail"]
    ci_run_url: HttpUrlText = ""

    @model_validator(mode="after")
    def _counts(self) -> EvaluationIn:
        if self.passed + self.failed > self.total:
            raise ValueError(f"passed + failed ({self.passed + self.failed}) exceeds total ({self.total})")
        return self


class EvaluationOut(BaseModel):
    id: int
    project: str
    package: str
    version: str
    suite: str
    passed: int
    failed: int
    total: int
    metrics: dict[str, Any]
    verdict: str
    ci_run_url: str
    posted_by: str
    created_at: datetime


# --- firmware -------------------------------------------------------------
class FirmwareIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    version: str = Field(min_length=1, max_length=200)
    packages: list[str] = Field(
        min_length=1, max_length=1000, description="exact package versions: [PROJECT/]NAME@VERSION"
    )
    description: str = Field(default="", max_length=4000)
    ci_run_url: HttpUrlText = ""


class PackageRef(BaseModel):
    project: str
    package: str
    version: str


class FirmwareOut(BaseModel):
    project: str
    name: str
    version: str
    description: str
    ci_run_url: str
    created_by: str
    created_at: datetime
    packages: list[PackageRef]


# --- deployments ----------------------------------------------------------
class DeploymentIn(BaseModel):
    vehicle: str = Field(min_length=1, max_length=200)
    firmware: str = Field(min_length=3, max_length=502, description="[PROJECT/]NAME@VERSION of a firmware image")
    site: str = Field(default="", max_length=200)
    status: str = Field(default="deployed", min_length=1, max_length=40)
    deployed_at: datetime | None = Field(default=None, description="when it happened; default now")
    ci_run_url: HttpUrlText = ""


class DeploymentOut(BaseModel):
    id: int
    vehicle: str
    firmware: str
    project: str
    site: str
    status: str
    deployed_at: datetime
    ci_run_url: str
    recorded_by: str
    created_at: datetime


# --- lineage --------------------------------------------------------------
class TraceBag(BaseModel):
    slice_path: str
    slice_md5: str | None
    source_path: str
    source_md5: str


class TraceDep(BaseModel):
    path: str
    md5: str
    stage: str


class TracePackage(BaseModel):
    project: str
    package: str
    version: str
    commit: str | None
    tag: str | None
    run: dict[str, Any] | None = Field(default=None, description="run record digest and summary")
    evaluations: list[EvaluationOut] = Field(default_factory=list)
    deps: list[TraceDep] = Field(default_factory=list)
    bags: list[TraceBag] = Field(default_factory=list)


class TraceVehicle(BaseModel):
    vehicle: str
    firmware: str
    site: str
    status: str
    deployed_at: datetime


class TraceOut(BaseModel):
    subject: str
    vehicles: list[TraceVehicle] = Field(default_factory=list)
    firmware: list[FirmwareOut] = Field(default_factory=list)
    packages: list[TracePackage] = Field(default_factory=list)
    source_bags: list[str] = Field(default_factory=list, description="md5 of every source bag reached")
