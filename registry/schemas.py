"""Request and response bodies of the HTTP API (pydantic); the client parses the same models."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ErrorBody(BaseModel):
    code: str = Field(description="stable machine-readable code, e.g. not_found, conflict")
    message: str = Field(description="one line for humans")


class ErrorOut(BaseModel):
    error: ErrorBody


class Health(BaseModel):
    status: str
    version: str
    database: str


class Me(BaseModel):
    name: str
    kind: str
    is_admin: bool
    roles: dict[str, str] = Field(description="project name -> role")
    token_project: str | None = None
    scopes: list[str] | None = None


# --- users, projects, access -----------------------------------------------
class UserIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    is_admin: bool = False


class UserOut(BaseModel):
    name: str
    kind: str
    is_admin: bool
    created_at: datetime


class ProjectIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=10_000)


class ProjectOut(BaseModel):
    name: str
    description: str
    protected_channels: list[str]
    created_at: datetime
    role: str | None = Field(default=None, description="the caller's role in this project")


class ProtectedChannelsIn(BaseModel):
    channels: list[str] = Field(max_length=100)


class MemberIn(BaseModel):
    role: str = Field(description="viewer, developer, maintainer or admin")


class MemberOut(BaseModel):
    user: str
    kind: str
    role: str
    project: str


class GrantIn(BaseModel):
    user: str | None = Field(default=None, description="grant to one user ...")
    project: str | None = Field(default=None, description="... or share with every member of another project")
    role: str = Field(default="viewer", description="shares are read-only (viewer) unless said otherwise")


class GrantOut(BaseModel):
    package: str
    user: str | None
    project: str | None
    role: str
    created_at: datetime


# --- tokens ----------------------------------------------------------------
class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    user: str | None = Field(default=None, description="another user's token (admins only)")
    project: str | None = Field(default=None, description="limit the token to one project")
    scopes: list[str] | None = Field(default=None, max_length=32, description="limit the token to these actions")
    robot: bool = Field(default=False, description="a CI robot identity named `name` (needs project + scopes)")
    expires_days: int | None = Field(default=None, ge=1, le=3650)


class TokenOut(BaseModel):
    prefix: str
    name: str
    user: str
    kind: str
    project: str | None
    scopes: list[str] | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class NewTokenOut(TokenOut):
    token: str = Field(description="the secret: shown once, stored only as a hash")


# --- packages --------------------------------------------------------------
class FileIn(BaseModel):
    path: str = Field(min_length=1, max_length=1000)
    md5: str = Field(min_length=32, max_length=32)
    size: int = Field(ge=0, le=2**62)
    url: str = Field(default="", max_length=4000, description="DVC remote object (s3://...) or local path")


class FileOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    path: str
    md5: str
    size: int
    url: str


class VersionIn(BaseModel):
    version: str = Field(min_length=1, max_length=200)
    files: list[FileIn] = Field(default_factory=list, max_length=20_000)
    commit: str | None = Field(default=None, max_length=64)
    tag: str | None = Field(default=None, max_length=300)
    manifest: dict[str, Any] = Field(default_factory=dict, max_length=200)
    description: str = Field(default="", max_length=10_000, description="package description if it is new")


class SignatureOut(BaseModel):
    """A version's signature against its project's trust roots: verified, unsigned or invalid."""

    status: str
    signer: str | None = None
    reason: str = ""


class TrustRootIn(BaseModel):
    public_key: str = Field(min_length=1, max_length=2000, description="Ed25519 public key, PEM")


class TrustRootRevokeIn(BaseModel):
    revoked_at: datetime | None = Field(default=None, description="default: now; earlier signatures stay verified")


class TrustRootOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    keyid: str
    public_pem: str
    added_at: datetime
    added_by: str
    revoked_at: datetime | None


class VersionOut(BaseModel):
    project: str
    package: str
    version: str
    content_hash: str
    commit: str | None
    tag: str | None
    manifest: dict[str, Any]
    created_at: datetime
    created_by: str
    deprecated: bool
    deprecated_at: datetime | None
    deprecated_by: str | None
    deprecation_reason: str | None
    channels: list[str] = Field(default_factory=list)
    files: list[FileOut] = Field(default_factory=list)
    signature: SignatureOut | None = None


class PackageIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=10_000)


class PackageOut(BaseModel):
    project: str
    name: str
    description: str
    created_at: datetime
    version_count: int = 0
    latest: str | None = None
    channels: dict[str, str] = Field(default_factory=dict, description="channel -> version")
    role: str | None = Field(default=None, description="the caller's effective role on this package")


class ChannelIn(BaseModel):
    version: str = Field(min_length=1, max_length=200)


class ChannelOut(BaseModel):
    package: str
    channel: str
    version: str
    protected: bool
    updated_at: datetime
    updated_by: str


class DeprecateIn(BaseModel):
    reason: str = Field(default="", max_length=2000)


# --- audit -----------------------------------------------------------------
class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    time: datetime
    actor: str
    action: str
    target: str
    before: Any = None
    after: Any = None
    prev_hash: str
    hash: str


class AuditVerifyOut(BaseModel):
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str | None = None


class AuditCheckpoint(BaseModel):
    """The chain's head signed with the registry's audit key: keep it outside the registry."""

    seq: int = Field(ge=0, le=2**62)
    hash: str = Field(min_length=64, max_length=64)
    signature: str = Field(min_length=64, max_length=64)


class AuditVerifyIn(BaseModel):
    checkpoints: list[AuditCheckpoint] = Field(default_factory=list, max_length=1000)
