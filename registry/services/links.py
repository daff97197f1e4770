"""CI/CD evidence: evaluations of versions, firmware images, deployments to vehicles.

Evidence is append-only: nothing here updates or deletes a row; a vehicle's
new state is a new deployment row, a re-run is a new evaluation. Every write
is audited in the caller's transaction.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from registry.core.security import Action, Principal
from registry.models import Package, PackageVersion, Project, utcnow
from registry.models_links import Deployment, Evaluation, FirmwareImage, FirmwarePackage
from registry.schemas_links import (
    DeploymentIn,
    DeploymentOut,
    EvaluationIn,
    EvaluationOut,
    FirmwareIn,
    FirmwareOut,
    PackageRef,
)
from registry.services import packages as pkgs
from registry.services.access import authorize_package, authorize_project, get_project, visible_project_ids
from registry.services.audit import record_audit
from toolkit.errors import ConflictError, NotFoundError, UserError

_LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,199}$")


def _label(kind: str, value: str) -> str:
    if not _LABEL_RE.fullmatch(value):
        raise UserError(f"invalid {kind} {value!r}: letters, digits and . _ : + - (start with a letter or digit)")
    return value


# --- evaluations ----------------------------------------------------------
def evaluation_out(e: Evaluation, project: str, package: str, version: str) -> EvaluationOut:
    return EvaluationOut(
        id=e.id,
        project=project,
        package=package,
        version=version,
        suite=e.suite,
        passed=e.passed,
        failed=e.failed,
        total=e.total,
        metrics=e.metrics or {},
        verdict=e.verdict,
        ci_run_url=e.ci_run_url,
        posted_by=e.posted_by,
        created_at=e.created_at,
    )


def add_evaluation(
    session: Session, actor: Principal, project: str, package: str, version: str, body: EvaluationIn
) -> EvaluationOut:
    pkg = pkgs.get_package(session, actor, project, package)
    authorize_package(session, actor, pkg, Action.evaluations_write)
    row = pkgs.get_version(session, actor, pkg, version)
    ev = Evaluation(
        version_id=row.id,
        suite=body.suite,
        passed=body.passed,
        failed=body.failed,
        total=body.total,
        metrics=body.metrics,
        verdict=body.verdict,
        ci_run_url=body.ci_run_url,
        posted_by=actor.actor,
    )
    session.add(ev)
    session.flush()
    record_audit(
        session,
        actor.actor,
        "evaluation.add",
        f"package:{project}/{package}@{version}",
        None,
        {
            "id": ev.id,
            "suite": body.suite,
            "verdict": body.verdict,
            "passed": body.passed,
            "failed": body.failed,
            "total": body.total,
            "ci_run_url": body.ci_run_url,
        },
    )
    return evaluation_out(ev, project, package, version)


def evaluations_of(session: Session, version_ids: list[int]) -> dict[int, list[Evaluation]]:
    out: dict[int, list[Evaluation]] = {}
    if not version_ids:
        return out
    stmt = select(Evaluation).where(Evaluation.version_id.in_(version_ids)).order_by(Evaluation.id)
    for e in session.execute(stmt).scalars():
        out.setdefault(e.version_id, []).append(e)
    return out


def list_evaluations(
    session: Session, actor: Principal, project: str, package: str, version: str | None = None
) -> list[EvaluationOut]:
    pkg = pkgs.get_package(session, actor, project, package)
    authorize_package(session, actor, pkg, Action.evaluations_read)
    stmt = (
        select(Evaluation, PackageVersion.version)
        .join(PackageVersion, PackageVersion.id == Evaluation.version_id)
        .where(PackageVersion.package_id == pkg.id)
        .order_by(Evaluation.id)
    )
    if version is not None:
        pkgs.get_version(session, actor, pkg, version)
        stmt = stmt.where(PackageVersion.version == version)
    return [evaluation_out(e, project, package, v) for e, v in session.execute(stmt).all()]


# --- firmware -------------------------------------------------------------
def _firmware_packages(session: Session, firmware_ids: list[int]) -> dict[int, list[PackageRef]]:
    out: dict[int, list[PackageRef]] = {}
    if not firmware_ids:
        return out
    stmt = (
        select(FirmwarePackage.firmware_id, Project.name, Package.name, PackageVersion.version)
        .join(PackageVersion, PackageVersion.id == FirmwarePackage.version_id)
        .join(Package, Package.id == PackageVersion.package_id)
        .join(Project, Project.id == Package.project_id)
        .where(FirmwarePackage.firmware_id.in_(firmware_ids))
        .order_by(Project.name, Package.name, PackageVersion.version)
    )
    for fid, project, package, version in session.execute(stmt).all():
        out.setdefault(fid, []).append(PackageRef(project=project, package=package, version=version))
    return out


def _firmware_out(fw: FirmwareImage, project: str, packages: list[PackageRef]) -> FirmwareOut:
    return FirmwareOut(
        project=project,
        name=fw.name,
        version=fw.version,
        description=fw.description,
        ci_run_url=fw.ci_run_url,
        created_by=fw.created_by,
        created_at=fw.created_at,
        packages=packages,
    )


def firmware_out(session: Session, fw: FirmwareImage, project: str | None = None) -> FirmwareOut:
    if project is None:
        owner = session.get(Project, fw.project_id)
        project = owner.name if owner else ""
    return _firmware_out(fw, project, _firmware_packages(session, [fw.id]).get(fw.id, []))


def firmware_outs(session: Session, images: list[FirmwareImage]) -> list[FirmwareOut]:
    """Several images in three queries whatever their number (trace lists many)."""
    if not images:
        return []
    project_ids = {fw.project_id for fw in images}
    names = dict(session.execute(select(Project.id, Project.name).where(Project.id.in_(project_ids))).all())
    contents = _firmware_packages(session, [fw.id for fw in images])
    return [_firmware_out(fw, names.get(fw.project_id, ""), contents.get(fw.id, [])) for fw in images]


def add_firmware(session: Session, actor: Principal, project_name: str, body: FirmwareIn) -> FirmwareOut:
    """An immutable firmware image: the exact package versions it contains."""
    project = get_project(session, actor, project_name)
    authorize_project(actor, project, Action.firmware_write)
    _label("firmware name", body.name)
    _label("firmware version", body.version)
    versions: list[PackageVersion] = []
    for ref in body.packages:
        parsed = pkgs.parse_ref(ref)
        if parsed.kind != "@":
            raise UserError(f"firmware holds exact versions: write {parsed.name}@VERSION, not {ref}")
        v = pkgs.resolve(session, actor, parsed)
        if v.version != parsed.ref:
            raise UserError(f"{ref} names a channel; firmware holds exact versions ({parsed.name}@{v.version})")
        versions.append(v)
    fw = FirmwareImage(
        project_id=project.id,
        name=body.name,
        version=body.version,
        description=body.description,
        ci_run_url=body.ci_run_url,
        created_by=actor.actor,
    )
    try:
        with session.begin_nested():
            session.add(fw)
            session.flush()
    except IntegrityError:
        raise ConflictError(f"firmware {body.name}@{body.version} already exists (images are immutable)") from None
    for v in {v.id: v for v in versions}.values():
        session.add(FirmwarePackage(firmware_id=fw.id, version_id=v.id))
    session.flush()
    out = firmware_out(session, fw, project.name)
    record_audit(
        session,
        actor.actor,
        "firmware.add",
        f"firmware:{body.name}@{body.version}",
        None,
        {"project": project.name, "packages": [f"{p.project}/{p.package}@{p.version}" for p in out.packages]},
    )
    return out


def _visible(session: Session, actor: Principal) -> set[int] | None:
    return visible_project_ids(session, actor)


def find_firmware(session: Session, actor: Principal, ref: str) -> FirmwareImage:
    """``[PROJECT/]NAME@VERSION`` among the firmware the actor can see (names are unique per project only)."""
    head, sep, version = ref.partition("@")
    project, slash, name = head.rpartition("/")
    if not sep or not name or not version or (slash and not project):
        raise UserError(f"invalid firmware reference {ref!r}: use [PROJECT/]NAME@VERSION")
    stmt = (
        select(FirmwareImage, Project.name)
        .join(Project, Project.id == FirmwareImage.project_id)
        .where(FirmwareImage.name == name, FirmwareImage.version == version)
    )
    if project:
        stmt = stmt.where(Project.name == project)
    visible = _visible(session, actor)
    found = [(fw, p) for fw, p in session.execute(stmt).all() if visible is None or fw.project_id in visible]
    if not found:
        raise NotFoundError(f"firmware {ref} not found")
    if len(found) > 1:
        projects = ", ".join(sorted(p for _, p in found))
        raise UserError(f"firmware {ref} exists in several projects ({projects}): write PROJECT/{ref}")
    return found[0][0]


def list_firmware(session: Session, actor: Principal, project: str | None = None) -> list[FirmwareOut]:
    stmt = select(FirmwareImage, Project.name).join(Project, Project.id == FirmwareImage.project_id)
    visible = _visible(session, actor)
    if visible is not None:
        stmt = stmt.where(FirmwareImage.project_id.in_(visible))
    if project:
        stmt = stmt.where(Project.name == project)
    rows = session.execute(stmt.order_by(FirmwareImage.name, FirmwareImage.id)).all()
    contents = _firmware_packages(session, [fw.id for fw, _ in rows])
    return [_firmware_out(fw, p, contents.get(fw.id, [])) for fw, p in rows]


# --- deployments ----------------------------------------------------------
def deployment_out(d: Deployment, fw: FirmwareImage, project: str) -> DeploymentOut:
    return DeploymentOut(
        id=d.id,
        vehicle=d.vehicle,
        firmware=f"{fw.name}@{fw.version}",
        project=project,
        site=d.site,
        status=d.status,
        deployed_at=d.deployed_at,
        ci_run_url=d.ci_run_url,
        recorded_by=d.recorded_by,
        created_at=d.created_at,
    )


def record_deployment(session: Session, actor: Principal, body: DeploymentIn) -> DeploymentOut:
    _label("vehicle", body.vehicle)
    fw = find_firmware(session, actor, body.firmware)
    project = session.get(Project, fw.project_id)
    assert project is not None
    authorize_project(actor, project, Action.deployments_write)
    row = Deployment(
        vehicle=body.vehicle,
        firmware_id=fw.id,
        deployed_at=body.deployed_at or utcnow(),
        site=body.site,
        status=body.status,
        ci_run_url=body.ci_run_url,
        recorded_by=actor.actor,
    )
    session.add(row)
    session.flush()
    record_audit(
        session,
        actor.actor,
        "deployment.record",
        f"vehicle:{body.vehicle}",
        None,
        {"id": row.id, "firmware": body.firmware, "site": body.site, "status": body.status},
    )
    return deployment_out(row, fw, project.name)


def list_deployments(
    session: Session,
    actor: Principal,
    *,
    vehicle: str | None = None,
    firmware: str | None = None,
    current_only: bool = False,
) -> list[DeploymentOut]:
    stmt = (
        select(Deployment, FirmwareImage, Project.name)
        .join(FirmwareImage, FirmwareImage.id == Deployment.firmware_id)
        .join(Project, Project.id == FirmwareImage.project_id)
    )
    visible = _visible(session, actor)
    if visible is not None:
        stmt = stmt.where(FirmwareImage.project_id.in_(visible))
    if vehicle:
        stmt = stmt.where(Deployment.vehicle == vehicle)
    if firmware:
        fw = find_firmware(session, actor, firmware)
        stmt = stmt.where(Deployment.firmware_id == fw.id)
    rows = session.execute(stmt.order_by(Deployment.deployed_at, Deployment.id)).all()
    out = [deployment_out(d, fw, p) for d, fw, p in rows]
    if current_only:
        latest: dict[str, DeploymentOut] = {}
        for d in out:
            latest[d.vehicle] = d
        out = list(latest.values())
    return out


def current_deployments(
    session: Session, vehicles: list[str] | None = None, firmware_ids: set[int] | None = None
) -> list[tuple[Deployment, Any]]:
    """The newest deployment row per vehicle (what runs there now), with its firmware.

    One query: each row must be its vehicle's newest (correlated subquery on the
    (vehicle, deployed_at) index), optionally only for some vehicles or firmware.
    """
    newer = aliased(Deployment)
    newest_id = (
        select(newer.id)
        .where(newer.vehicle == Deployment.vehicle)
        .order_by(newer.deployed_at.desc(), newer.id.desc())
        .limit(1)
        .correlate(Deployment)
        .scalar_subquery()
    )
    stmt = (
        select(Deployment, FirmwareImage)
        .join(FirmwareImage, FirmwareImage.id == Deployment.firmware_id)
        .where(Deployment.id == newest_id)
        .order_by(Deployment.vehicle)
    )
    if vehicles is not None:
        stmt = stmt.where(Deployment.vehicle.in_(vehicles))
    if firmware_ids is not None:
        if not firmware_ids:
            return []
        stmt = stmt.where(Deployment.firmware_id.in_(firmware_ids))
    return [(d, fw) for d, fw in session.execute(stmt).all()]


def parse_time(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise UserError(f"invalid time {value!r}: use ISO 8601, e.g. 2025-11-25T10:00:00+00:00") from None
