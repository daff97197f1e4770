"""Lineage: vehicle -> firmware -> package version -> commit/run record -> deps -> slices -> source bags, and back.

Everything comes from tables filled at sync time (version_deps, bag_sources)
and CI evidence (firmware, deployments), so a trace is a handful of indexed
queries, never a Git or DVC read. Packages the caller cannot read are left out.
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from registry.core.security import Principal
from registry.models import Package, PackageVersion, Project
from registry.models_links import BagSource, Deployment, FirmwareImage, FirmwarePackage, VersionDep
from registry.schemas_links import TraceBag, TraceDep, TraceOut, TracePackage, TraceVehicle
from registry.services import links
from registry.services import packages as pkgs
from registry.services.access import package_role, visible_project_ids
from toolkit.errors import NotFoundError, UserError

SUBJECTS = ("vehicle", "firmware", "package", "bag")


def _packages(session: Session, actor: Principal, version_ids: set[int]) -> list[TracePackage]:
    if not version_ids:
        return []
    rows = session.execute(
        select(PackageVersion, Package, Project.name)
        .join(Package, Package.id == PackageVersion.package_id)
        .join(Project, Project.id == Package.project_id)
        .where(PackageVersion.id.in_(version_ids))
        .order_by(Project.name, Package.name, PackageVersion.id)
    ).all()
    readable: dict[int, bool] = {}
    for _, p, _ in rows:
        if p.id not in readable:
            readable[p.id] = package_role(session, actor, p) is not None
    visible = [(v, p, proj) for v, p, proj in rows if readable[p.id]]
    ids = [v.id for v, _, _ in visible]
    deps: dict[int, list[TraceDep]] = {}
    for d in session.execute(
        select(VersionDep).where(VersionDep.version_id.in_(ids)).order_by(VersionDep.path)
    ).scalars():
        deps.setdefault(d.version_id, []).append(TraceDep(path=d.path, md5=d.md5, stage=d.stage))
    bags: dict[int, list[TraceBag]] = {}
    for b in session.execute(
        select(BagSource).where(BagSource.version_id.in_(ids)).order_by(BagSource.slice_path)
    ).scalars():
        bags.setdefault(b.version_id, []).append(
            TraceBag(slice_path=b.slice_path, slice_md5=b.slice_md5, source_path=b.source_path, source_md5=b.source_md5)
        )
    evals = links.evaluations_of(session, ids)
    out = []
    for v, p, proj in visible:
        manifest = v.manifest or {}
        out.append(
            TracePackage(
                project=proj,
                package=p.name,
                version=v.version,
                commit=v.commit,
                tag=v.tag,
                run=manifest.get("run") if isinstance(manifest.get("run"), dict) else None,
                evaluations=[links.evaluation_out(e, proj, p.name, v.version) for e in evals.get(v.id, [])],
                deps=deps.get(v.id, []),
                bags=bags.get(v.id, []),
            )
        )
    return out


def _firmware_versions(session: Session, firmware_ids: set[int]) -> set[int]:
    if not firmware_ids:
        return set()
    stmt = select(FirmwarePackage.version_id).where(FirmwarePackage.firmware_id.in_(firmware_ids))
    return set(session.execute(stmt).scalars())


def _vehicles(rows: list[tuple[Deployment, FirmwareImage]]) -> list[TraceVehicle]:
    return [
        TraceVehicle(
            vehicle=d.vehicle,
            firmware=f"{fw.name}@{fw.version}",
            site=d.site,
            status=d.status,
            deployed_at=d.deployed_at,
        )
        for d, fw in sorted(rows, key=lambda r: r[0].vehicle)
    ]


def _finish(
    session: Session,
    actor: Principal,
    subject: str,
    firmware: list[FirmwareImage],
    vehicles: list[tuple[Deployment, FirmwareImage]],
    version_ids: set[int],
) -> TraceOut:
    visible = visible_project_ids(session, actor)
    firmware = [fw for fw in firmware if visible is None or fw.project_id in visible]
    vehicles = [(d, fw) for d, fw in vehicles if visible is None or fw.project_id in visible]
    packages = _packages(session, actor, version_ids)
    kind, _, value = subject.partition(":")
    # Nothing visible answers exactly like nothing recorded: other projects' subjects stay unknowable.
    if kind == "vehicle" and not vehicles:
        raise NotFoundError(f"no deployments recorded for vehicle {value}")
    if kind == "bag" and not packages:
        raise NotFoundError(f"no package version was built from bag {value.lower()}")
    sources = sorted({b.source_md5 for p in packages for b in p.bags})
    return TraceOut(
        subject=subject,
        vehicles=_vehicles(vehicles),
        firmware=links.firmware_outs(session, firmware),
        packages=packages,
        source_bags=sources,
    )


def trace(session: Session, actor: Principal, subject: str) -> TraceOut:
    """``vehicle:ID``, ``firmware:NAME@V``, ``package:[PROJECT/]NAME@V`` or ``bag:MD5`` -> the connected graph."""
    kind, sep, value = subject.partition(":")
    if not sep or kind not in SUBJECTS or not value:
        raise UserError(
            f"invalid trace subject {subject!r}: use vehicle:ID, firmware:NAME@V, package:NAME@V or bag:MD5"
        )
    if kind == "vehicle":
        current = links.current_deployments(session, [value])
        if not current:
            raise NotFoundError(f"no deployments recorded for vehicle {value}")
        fws = [fw for _, fw in current]
        return _finish(session, actor, subject, fws, current, _firmware_versions(session, {fw.id for fw in fws}))
    if kind == "firmware":
        fw = links.find_firmware(session, actor, value)
        running = links.current_deployments(session, firmware_ids={fw.id})
        return _finish(session, actor, subject, [fw], running, _firmware_versions(session, {fw.id}))
    if kind == "package":
        version = pkgs.resolve(session, actor, value)
        return _reverse_from_versions(session, actor, subject, {version.id})
    return _from_bag(session, actor, subject, value.lower())


def _reverse_from_versions(session: Session, actor: Principal, subject: str, version_ids: set[int]) -> TraceOut:
    """Versions -> the firmware holding them -> the vehicles running that firmware now."""
    fw_ids = set(
        session.execute(
            select(FirmwarePackage.firmware_id).where(FirmwarePackage.version_id.in_(version_ids))
        ).scalars()
    )
    firmware = (
        list(session.execute(select(FirmwareImage).where(FirmwareImage.id.in_(fw_ids))).scalars()) if fw_ids else []
    )
    running = links.current_deployments(session, firmware_ids=fw_ids)
    return _finish(session, actor, subject, firmware, running, version_ids)


def _from_bag(session: Session, actor: Principal, subject: str, md5: str) -> TraceOut:
    if len(md5) < 6 or any(c not in "0123456789abcdef" for c in md5):
        raise UserError(f"invalid bag hash {md5!r}: give its md5 (at least 6 hex digits)")

    def match(column):  # type: ignore[no-untyped-def]
        return column == md5 if len(md5) == 32 else column.startswith(md5)

    via_sources = select(BagSource.version_id).where(or_(match(BagSource.source_md5), match(BagSource.slice_md5)))
    via_deps = select(VersionDep.version_id).where(match(VersionDep.md5))
    ids = set(session.execute(via_sources).scalars()) | set(session.execute(via_deps).scalars())
    if not ids:
        raise NotFoundError(f"no package version was built from bag {md5}")
    return _reverse_from_versions(session, actor, subject, ids)
