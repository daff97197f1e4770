"""Trust roots per project and the signature status of a version, computed from its stored manifest.

Status is evaluated on read, against the project's current trust roots, so a revocation or a
rotation takes effect on every version at once without a re-sync.

Policy: once a project has a trust root, its protected channels (``production``) accept only
verified versions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.core.security import Action, Principal
from registry.models import Project, TrustRoot, utcnow
from registry.services.access import authorize_project
from registry.services.audit import record_audit
from toolkit.errors import ConflictError, NotFoundError, ReleaseError, UserError
from toolkit.release import signing


def list_roots(session: Session, project: Project) -> list[TrustRoot]:
    return list(
        session.execute(select(TrustRoot).where(TrustRoot.project_id == project.id).order_by(TrustRoot.id)).scalars()
    )


def add_root(session: Session, actor: Principal, project: Project, public_pem: str) -> TrustRoot:
    authorize_project(actor, project, Action.access_manage)
    try:
        kid = signing.keyid(signing.load_public_key(public_pem))
    except ReleaseError as exc:
        raise UserError(str(exc)) from exc
    if any(r.keyid == kid for r in list_roots(session, project)):
        raise ConflictError(f"key {kid} is already a trust root of {project.name}")
    root = TrustRoot(project_id=project.id, keyid=kid, public_pem=public_pem, added_by=actor.actor)
    session.add(root)
    session.flush()
    record_audit(session, actor.actor, "trust_root.add", f"project:{project.name}", None, {"keyid": kid})
    return root


def revoke_root(
    session: Session, actor: Principal, project: Project, kid: str, at: datetime | None = None
) -> TrustRoot:
    """Revoke a key from ``at`` (default now): what it signed before stays verified."""
    authorize_project(actor, project, Action.access_manage)
    root = next((r for r in list_roots(session, project) if r.keyid == kid), None)
    if root is None:
        raise NotFoundError(f"key {kid} is not a trust root of {project.name}")
    if root.revoked_at is not None:
        raise ConflictError(f"key {kid} was already revoked at {root.revoked_at.isoformat()}")
    root.revoked_at = at or utcnow()
    record_audit(
        session,
        actor.actor,
        "trust_root.revoke",
        f"project:{project.name}",
        {"keyid": kid},
        {"keyid": kid, "revoked_at": root.revoked_at.isoformat()},
    )
    return root


def verdict(session: Session, project_id: int, manifest: dict[str, Any]) -> signing.Verdict:
    roots = session.execute(select(TrustRoot).where(TrustRoot.project_id == project_id)).scalars()
    return signing.verify(manifest, [signing.TrustRoot(r.keyid, r.public_pem, r.added_at, r.revoked_at) for r in roots])


def check_channel(session: Session, project: Project, channel: str, label: str, manifest: dict[str, Any]) -> None:
    """Refuse an unverified version for a protected channel of a project that has trust roots."""
    if channel not in (project.protected_channels or []) or not list_roots(session, project):
        return
    v = verdict(session, project.id, manifest)
    if v.status != "verified":
        why = f" ({v.reason})" if v.reason else ""
        raise ConflictError(f"{label} is {v.status}{why}: channel {channel!r} accepts only verified versions")
