"""Packages, immutable versions, channels, deprecation and reference resolution.

``publish_version`` is the one way a version comes to exist (API, CLI and
Git-tag sync all call it). It is idempotent and safe under concurrency:
re-publishing identical content returns the existing row, different
content raises ConflictError, and when two writers race on the same
version the database's unique constraint lets exactly one win.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import semver
from sqlalchemy import Select, String, bindparam, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from registry.core.security import Action, Principal, Role
from registry.models import Channel, Package, PackageFile, PackageVersion, Project, utcnow
from registry.schemas import FileOut, SignatureOut, VersionOut
from registry.services import signatures
from registry.services.access import (
    authorize_package,
    authorize_project,
    check_name,
    package_role,
    shared_package_ids,
    visible_project_ids,
)
from registry.services.audit import record_audit
from toolkit.errors import ConflictError, NotFoundError, PermissionDeniedError, UserError

VERSION_RE = re.compile(r"^[A-Za-z0-9_.+=-][A-Za-z0-9_.+=:~-]{0,199}$")
REF_RE = re.compile(r"^(?:(?P<project>[^/@#]+)/)?(?P<name>[^/@#]+)(?P<sep>[@#])(?P<ref>[^/@#]+)$")
MD5_RE = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class FileSpec:
    """One file of a version: its path inside the package, DVC md5, size and where the bytes are."""

    path: str
    md5: str
    size: int
    url: str = ""


@dataclass(frozen=True)
class PublishResult:
    version: PackageVersion
    created: bool  # False: the same content was already published (idempotent)


@dataclass(frozen=True)
class Ref:
    project: str | None
    name: str
    kind: str  # "@": version or channel (version wins; names never collide), "#": channel only
    ref: str

    def __str__(self) -> str:
        prefix = f"{self.project}/" if self.project else ""
        return f"{prefix}{self.name}{self.kind}{self.ref}"


def system_principal(name: str = "system") -> Principal:
    """The actor for server-side jobs (Git-tag sync): admin everywhere, named in the audit log."""
    return Principal(user_id=0, name=name, is_admin=True, kind="system")


# --- validation and content identity --------------------------------------
def check_version(version: str) -> str:
    if not VERSION_RE.fullmatch(version):
        raise UserError(
            f"invalid version {version!r}: up to 200 letters, digits or . _ + = - : ~ (no spaces, '/', '@', '#')"
        )
    return version


def _check_files(files: Sequence[FileSpec]) -> list[FileSpec]:
    seen: set[str] = set()
    for f in files:
        bad = not f.path or f.path.startswith("/") or "\\" in f.path or any(ord(c) < 32 for c in f.path)
        if bad or any(p in {"", ".", ".."} for p in f.path.split("/")):
            raise UserError(f"invalid file path {f.path!r}: use a relative path without '..'")
        if not MD5_RE.fullmatch(f.md5):
            raise UserError(f"invalid md5 for {f.path!r}: expected 32 lowercase hex digits")
        if f.size < 0:
            raise UserError(f"invalid size for {f.path!r}: must be >= 0")
        if f.path in seen:
            raise UserError(f"file {f.path!r} is listed twice")
        seen.add(f.path)
    for f in files:
        # 'a' and 'a/b' cannot both be files of one checkout: a client would write one over the other.
        parts = f.path.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in seen:
                raise UserError(
                    f"file {f.path!r} collides with file {'/'.join(parts[:i])!r} (a file is not a directory)"
                )
    return sorted(files, key=lambda f: f.path)


def content_hash(files: Sequence[FileSpec], commit: str | None) -> str:
    """What makes two publishes "the same": files (path, md5, size) and the commit."""
    doc = {"commit": commit, "files": [[f.path, f.md5, f.size] for f in sorted(files, key=lambda f: f.path)]}
    return hashlib.sha256(json.dumps(doc, separators=(",", ":")).encode()).hexdigest()


def parse_ref(text: str) -> Ref:
    m = REF_RE.fullmatch(text.strip())
    if not m:
        raise UserError(f"invalid reference {text!r}: use [PROJECT/]NAME@VERSION, NAME@CHANNEL or NAME#CHANNEL")
    return Ref(m["project"], m["name"], m["sep"], m["ref"])


# --- ordering -------------------------------------------------------------
def _semver(version: str) -> semver.Version | None:
    try:
        return semver.Version.parse(version[1:] if version[:1] in "vV" else version)
    except ValueError:
        return None


def sort_versions(versions: Sequence[PackageVersion], *, newest_first: bool = True) -> list[PackageVersion]:
    """Semver order among versions that parse as semver, publication order for everything else.

    A total order: versions are laid out by publication time, then the slots
    held by semver versions are refilled with those versions in semver order.
    """
    by_time = sorted(versions, key=lambda v: (v.created_at, v.id))
    parsed = [_semver(v.version) for v in by_time]
    slots = [i for i, p in enumerate(parsed) if p is not None]
    ordered_semver = sorted((by_time[i] for i in slots), key=lambda v: (_semver(v.version), v.created_at, v.id))
    result = list(by_time)
    for slot, v in zip(slots, ordered_semver, strict=True):
        result[slot] = v
    return result[::-1] if newest_first else result


# --- packages -------------------------------------------------------------
def _project_by_name(session: Session, name: str) -> Project:
    project = session.execute(select(Project).where(Project.name == name)).scalar_one_or_none()
    if project is None:
        raise NotFoundError(f"project {name!r} not found")
    return project


def _find_package(session: Session, project: str, name: str) -> Package | None:
    stmt = (
        select(Package)
        .join(Project, Project.id == Package.project_id)
        .where(Project.name == project, Package.name == name)
    )
    return session.execute(stmt).scalar_one_or_none()


def get_package(
    session: Session, actor: Principal, project: str, name: str, action: Action = Action.packages_read
) -> Package:
    package = _find_package(session, project, name)
    if package is None:
        raise NotFoundError(f"package {project}/{name} not found")
    authorize_package(session, actor, package, action)
    return package


def create_package(
    session: Session, actor: Principal, project_name: str, name: str, description: str = ""
) -> tuple[Package, bool]:
    """The package, created if missing (idempotent); True when this call created it."""
    try:
        project = _project_by_name(session, project_name)
    except NotFoundError:
        raise NotFoundError(f"project {project_name!r} not found") from None
    existing = _find_package(session, project_name, name)
    if existing is not None:
        authorize_package(session, actor, existing, Action.packages_read)
        return existing, False
    authorize_project(actor, project, Action.packages_write)
    check_name("package", name)
    package = Package(project_id=project.id, name=name, description=description)
    try:
        with session.begin_nested():
            session.add(package)
            session.flush()
    except IntegrityError:
        # Another writer created it between our read and insert: use theirs.
        winner = _find_package(session, project_name, name)
        if winner is None:
            raise
        return winner, False
    set_committed_value(package, "project", project)
    record_audit(
        session, actor.actor, "package.create", f"package:{project.name}/{name}", None, {"description": description}
    )
    return package, True


@dataclass(frozen=True)
class PackageSummary:
    package: Package
    version_count: int
    latest: str | None
    channels: dict[str, str]
    role: Role | None


def list_packages(
    session: Session, actor: Principal, *, project: str | None = None, query: str | None = None
) -> list[PackageSummary]:
    stmt = select(Package).join(Project, Project.id == Package.project_id).order_by(Project.name, Package.name)
    ids = visible_project_ids(session, actor)
    if ids is not None:
        shared = shared_package_ids(session, actor)
        stmt = stmt.where(or_(Package.project_id.in_(ids), Package.id.in_(shared)))
    if project:
        stmt = stmt.where(Project.name == project)
    if query:
        like = f"%{query}%"
        stmt = stmt.where(or_(Package.name.ilike(like), Package.description.ilike(like)))
    packages = list(session.execute(stmt).scalars())
    if not packages:
        return []
    pids = [p.id for p in packages]
    counts = dict(
        session.execute(
            select(PackageVersion.package_id, func.count())
            .where(PackageVersion.package_id.in_(pids))
            .group_by(PackageVersion.package_id)
        ).all()
    )
    channels: dict[int, dict[str, str]] = {}
    for pid, cname, ver in session.execute(
        select(Channel.package_id, Channel.name, PackageVersion.version)
        .join(PackageVersion, PackageVersion.id == Channel.version_id)
        .where(Channel.package_id.in_(pids))
    ).all():
        channels.setdefault(pid, {})[cname] = ver
    versions: dict[int, list[PackageVersion]] = {}
    for v in session.execute(
        select(PackageVersion).where(PackageVersion.package_id.in_(pids), PackageVersion.deprecated_at.is_(None))
    ).scalars():
        versions.setdefault(v.package_id, []).append(v)
    out = []
    for p in packages:
        ordered = sort_versions(versions.get(p.id, []))
        out.append(
            PackageSummary(
                p,
                counts.get(p.id, 0),
                ordered[0].version if ordered else None,
                channels.get(p.id, {}),
                package_role(session, actor, p),
            )
        )
    return out


# --- versions -------------------------------------------------------------
def _find_version(session: Session, package: Package, version: str) -> PackageVersion | None:
    stmt = select(PackageVersion).where(PackageVersion.package_id == package.id, PackageVersion.version == version)
    return session.execute(stmt).scalar_one_or_none()


def publish_version(
    session: Session,
    actor: Principal,
    *,
    project: str,
    package: str,
    version: str,
    files: Sequence[FileSpec],
    commit: str | None = None,
    tag: str | None = None,
    manifest: dict[str, Any] | None = None,
    description: str = "",
) -> PublishResult:
    """Record an immutable version (creating the package if needed) in the caller's transaction."""
    check_version(version)
    clean = _check_files(files)
    digest = content_hash(clean, commit)
    pkg = _find_package(session, project, package)
    if pkg is None:
        pkg, _ = create_package(session, actor, project, package, description)
    authorize_package(session, actor, pkg, Action.packages_write)
    _check_not_a_channel(session, pkg, version)

    def settle(existing: PackageVersion) -> PublishResult:
        if existing.content_hash != digest:
            raise ConflictError(
                f"{project}/{package}@{version} is already published with different content (versions are immutable)"
            )
        return PublishResult(existing, False)

    existing = _find_version(session, pkg, version)
    if existing is not None:
        return settle(existing)
    row = PackageVersion(
        package_id=pkg.id,
        version=version,
        content_hash=digest,
        commit=commit,
        tag=tag,
        manifest=manifest or {},
        created_by=actor.actor,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
            for f in clean:
                session.add(PackageFile(version_id=row.id, path=f.path, md5=f.md5, size=f.size, url=f.url))
            session.flush()
    except IntegrityError:
        winner = _find_version(session, pkg, version)
        if winner is None:
            raise
        return settle(winner)
    session.refresh(row, ["files"])
    set_committed_value(row, "package", pkg)
    record_audit(
        session,
        actor.actor,
        "version.publish",
        f"package:{project}/{package}@{version}",
        None,
        {"content_hash": digest, "commit": commit, "tag": tag, "files": len(clean)},
    )
    return PublishResult(row, True)


def _check_not_a_channel(session: Session, package: Package, version: str) -> None:
    """A version never shadows a channel: NAME@production must always mean the channel."""
    project = session.get(Project, package.project_id)
    protected = set(project.protected_channels or []) if project else set()
    taken = session.execute(select(Channel.id).where(Channel.package_id == package.id, Channel.name == version)).first()
    if version in protected or taken:
        kind = "a protected channel of the project" if version in protected else "a channel of the package"
        raise ConflictError(f"version {version!r} has the name of {kind}: choose another version name")


def list_versions(session: Session, actor: Principal, package: Package) -> list[PackageVersion]:
    authorize_package(session, actor, package, Action.packages_read)
    rows = session.execute(select(PackageVersion).where(PackageVersion.package_id == package.id)).scalars()
    result = sort_versions(list(rows))
    for v in result:
        set_committed_value(v, "package", package)
    return result


def get_version(session: Session, actor: Principal, package: Package, version: str) -> PackageVersion:
    authorize_package(session, actor, package, Action.packages_read)
    row = _find_version(session, package, version)
    if row is None:
        raise NotFoundError(f"version {package.name}@{version} not found")
    set_committed_value(row, "package", package)
    return row


def deprecate_version(
    session: Session, actor: Principal, package: Package, version: str, reason: str = ""
) -> PackageVersion:
    """Mark a version deprecated (it stays resolvable by exact version, never deleted)."""
    authorize_package(session, actor, package, Action.packages_manage)
    row = get_version(session, actor, package, version)
    if row.deprecated_at is None:
        row.deprecated_at = utcnow()
        row.deprecated_by = actor.actor
        row.deprecation_reason = reason
        session.flush()
        record_audit(
            session,
            actor.actor,
            "version.deprecate",
            f"package:{package.project.name}/{package.name}@{version}",
            {"deprecated": False},
            {"deprecated": True, "reason": reason},
        )
    return row


# --- channels -------------------------------------------------------------
def channels_of(session: Session, package: Package) -> list[tuple[Channel, str]]:
    stmt = (
        select(Channel, PackageVersion.version)
        .join(PackageVersion, PackageVersion.id == Channel.version_id)
        .where(Channel.package_id == package.id)
        .order_by(Channel.name)
    )
    return [(c, v) for c, v in session.execute(stmt).all()]


def _channel_action(package: Package, channel: str) -> Action:
    protected = channel in (package.project.protected_channels or [])
    return Action.channels_protected if protected else Action.packages_write


def set_channel(session: Session, actor: Principal, package: Package, channel: str, version: str) -> Channel:
    """Point a channel at a version; protected channels (production) need maintainer or above."""
    check_name("channel", channel)
    authorize_package(session, actor, package, Action.packages_read)
    authorize_package(session, actor, package, _channel_action(package, channel))
    if _find_version(session, package, channel) is not None:
        raise ConflictError(f"{package.name}@{channel} is a version: a channel cannot take a version's name")
    target = get_version(session, actor, package, version)
    if target.deprecated_at is not None:
        raise UserError(f"{package.name}@{version} is deprecated and cannot be assigned to a channel")
    signatures.check_channel(session, package.project, channel, f"{package.name}@{version}", target.manifest or {})
    row = session.execute(
        select(Channel).where(Channel.package_id == package.id, Channel.name == channel)
    ).scalar_one_or_none()
    before = None
    if row is not None:
        old = session.get(PackageVersion, row.version_id)
        before = {"version": old.version if old else None}
        if row.version_id == target.id:
            return row
        row.version_id, row.updated_at, row.updated_by = target.id, utcnow(), actor.actor
    else:
        row = Channel(package_id=package.id, name=channel, version_id=target.id, updated_by=actor.actor)
        session.add(row)
    session.flush()
    record_audit(
        session,
        actor.actor,
        "channel.set",
        f"package:{package.project.name}/{package.name}#{channel}",
        before,
        {"version": version},
    )
    return row


def remove_channel(session: Session, actor: Principal, package: Package, channel: str) -> None:
    authorize_package(session, actor, package, Action.packages_read)
    authorize_package(session, actor, package, _channel_action(package, channel))
    row = session.execute(
        select(Channel).where(Channel.package_id == package.id, Channel.name == channel)
    ).scalar_one_or_none()
    if row is None:
        raise NotFoundError(f"channel {package.name}#{channel} not found")
    old = session.get(PackageVersion, row.version_id)
    session.delete(row)
    record_audit(
        session,
        actor.actor,
        "channel.remove",
        f"package:{package.project.name}/{package.name}#{channel}",
        {"version": old.version if old else None},
        None,
    )


# --- resolution (the hot path) --------------------------------------------
def resolve(session: Session, actor: Principal, ref: str | Ref) -> PackageVersion:
    """``[PROJECT/]NAME@VERSION``, ``NAME@CHANNEL`` or ``NAME#CHANNEL`` -> one version, in one indexed query.

    Version and channel names of a package never collide (publish and set_channel refuse it); should old
    rows collide, a protected channel wins and otherwise the exact version. Deprecated versions
    resolve (reproducibility) and say so in the answer.
    """
    r = parse_ref(ref) if isinstance(ref, str) else ref
    # One statement, two index lookups: the exact version (uq_package_version) and the channel (uq_channel).
    by_version = (
        select(PackageVersion.id)
        .join(Package, Package.id == PackageVersion.package_id)
        .where(Package.name == r.name, PackageVersion.version == r.ref)
    )
    by_channel = (
        select(Channel.version_id)
        .join(Package, Package.id == Channel.package_id)
        .where(Package.name == r.name, Channel.name == r.ref)
    )
    candidates = by_channel if r.kind == "#" else by_version.union_all(by_channel)
    stmt = (
        select(PackageVersion, Package)
        .join(Package, Package.id == PackageVersion.package_id)
        .where(PackageVersion.id.in_(candidates))
    )
    if r.project:
        stmt = stmt.join(Project, Project.id == Package.project_id).where(Project.name == r.project)
    rows = sorted(session.execute(stmt).all(), key=lambda row: row[0].version != r.ref or r.kind == "#")
    visible: list[tuple[PackageVersion, Package]] = []
    seen: set[int] = set()
    for v, p in rows:
        if p.id in seen:
            continue  # a lower-priority (channel) match of a package already chosen
        seen.add(p.id)
        # Members of the package's project see it without a grant lookup (the hot path).
        if actor.role_in(p.project_id) is not None or package_role(session, actor, p) is not None:
            visible.append((v, p))
    if not visible:
        raise NotFoundError(f"{r} not found")
    if len(visible) > 1:
        projects = ", ".join(sorted(p.project.name for _, p in visible))
        raise UserError(f"{r.name!r} exists in several projects ({projects}): write PROJECT/{r}")
    version, package = visible[0]
    if r.kind == "@" and version.version == r.ref and r.ref in (package.project.protected_channels or []):
        return resolve(session, actor, Ref(r.project, r.name, "#", r.ref))  # protected channels win
    if not actor.scope_allows(Action.packages_read):
        raise PermissionDeniedError(f"{actor.name} may not packages:read on package {package.name!r}")
    set_committed_value(version, "package", package)
    return version


@functools.cache
def _resolve_statement(channel_only: bool, with_project: bool) -> Select[Any]:
    """The hot-path statement, built once per shape (statement construction costs more than the lookup)."""
    name, ref = bindparam("name", type_=String()), bindparam("ref", type_=String())
    by_version = (
        select(PackageVersion.id)
        .join(Package, Package.id == PackageVersion.package_id)
        .where(Package.name == name, PackageVersion.version == ref)
    )
    by_channel = (
        select(Channel.version_id)
        .join(Package, Package.id == Channel.package_id)
        .where(Package.name == name, Channel.name == ref)
    )
    candidates = by_channel if channel_only else by_version.union_all(by_channel)
    v, f = PackageVersion, PackageFile
    stmt = (
        select(
            v.id,
            v.version,
            v.content_hash,
            v.commit,
            v.tag,
            v.manifest,
            v.created_at,
            v.created_by,
            v.deprecated_at,
            v.deprecated_by,
            v.deprecation_reason,
            Package.id,
            Package.name,
            Package.project_id,
            Project.name,
            f.path,
            f.md5,
            f.size,
            f.url,
            Project.protected_channels,
        )
        .join(Package, Package.id == v.package_id)
        .join(Project, Project.id == Package.project_id)
        .outerjoin(f, f.version_id == v.id)
        .where(v.id.in_(candidates))
        .order_by(v.id, f.path)
    )
    if with_project:
        stmt = stmt.where(Project.name == bindparam("project"))
    return stmt


def resolve_out(session: Session, actor: Principal, ref: str) -> VersionOut:
    """:func:`resolve` for the HTTP hot path: the same rules, one Core statement including the files."""
    r = parse_ref(ref)
    stmt = _resolve_statement(r.kind == "#", r.project is not None)
    params = {"name": r.name, "ref": r.ref, **({"project": r.project} if r.project else {})}
    result = session.connection().execute(stmt, params)
    versions: dict[int, list[Any]] = {}
    for row in result.all():
        versions.setdefault(row[0], []).append(row)
    ordered = sorted(versions.values(), key=lambda rows: rows[0][1] != r.ref or r.kind == "#")
    chosen: list[list[Any]] = []
    seen: set[int] = set()
    for rows in ordered:
        package_id, project_id = rows[0][11], rows[0][13]
        if package_id in seen:
            continue
        seen.add(package_id)
        if actor.role_in(project_id) is not None:
            chosen.append(rows)
            continue
        package = session.get(Package, package_id)
        if package is not None and package_role(session, actor, package) is not None:
            chosen.append(rows)
    if not chosen:
        raise NotFoundError(f"{r} not found")
    if len(chosen) > 1:
        projects = ", ".join(sorted(rows[0][14] for rows in chosen))
        raise UserError(f"{r.name!r} exists in several projects ({projects}): write PROJECT/{r}")
    if not actor.scope_allows(Action.packages_read):
        raise PermissionDeniedError(f"{actor.name} may not packages:read on package {chosen[0][0][12]!r}")
    rows = chosen[0]
    head = rows[0]
    if r.kind == "@" and head[1] == r.ref and r.ref in (head[19] or []):
        # A version named like a protected channel (written before names were checked) never shadows it.
        return resolve_out(session, actor, str(Ref(r.project, r.name, "#", r.ref)))
    return VersionOut(
        project=head[14],
        package=head[12],
        version=head[1],
        content_hash=head[2],
        commit=head[3],
        tag=head[4],
        manifest=head[5] or {},
        created_at=head[6],
        created_by=head[7],
        deprecated=head[8] is not None,
        deprecated_at=head[8],
        deprecated_by=head[9],
        deprecation_reason=head[10],
        files=[FileOut(path=x[15], md5=x[16], size=x[17], url=x[18]) for x in rows if x[15] is not None],
        signature=_signature(session, head[13], head[5] or {}),
    )


def _signature(session: Session, project_id: int, manifest: dict[str, Any]) -> SignatureOut:
    # Unsigned manifests skip the trust-root query: resolve is the hot path.
    if not manifest.get("signature"):
        return SignatureOut(status="unsigned")
    v = signatures.verdict(session, project_id, manifest)
    return SignatureOut(status=v.status, signer=v.signer, reason=v.reason)
