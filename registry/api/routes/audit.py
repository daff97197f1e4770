"""The audit log: list and verify (registry admins)."""

from __future__ import annotations

from fastapi import APIRouter, Query

from registry.api.deps import CurrentPrincipal, SessionDep
from registry.core.security import Action
from registry.schemas import AuditCheckpoint, AuditEventOut, AuditVerifyIn, AuditVerifyOut
from registry.services import audit
from registry.services.access import require_global_admin

router = APIRouter(tags=["audit"])


@router.get("/audit", response_model=list[AuditEventOut])
def list_events(
    principal: CurrentPrincipal,
    session: SessionDep,
    target: str | None = Query(default=None, max_length=500, description="target prefix, e.g. package:perception/"),
    action: str | None = Query(default=None, max_length=100),
    limit: int = Query(default=100, ge=1, le=10_000),
    before_seq: int | None = Query(default=None, ge=1, le=2**62),
) -> list[AuditEventOut]:
    require_global_admin(principal, Action.audit_read)
    rows = audit.list_events(session, target_prefix=target, action=action, limit=limit, before_seq=before_seq)
    return [AuditEventOut.model_validate(r) for r in rows]


@router.get("/audit/verify", response_model=AuditVerifyOut)
def verify(principal: CurrentPrincipal, session: SessionDep) -> AuditVerifyOut:
    require_global_admin(principal, Action.audit_read)
    r = audit.verify_chain(session)
    return AuditVerifyOut(ok=r.ok, checked=r.checked, first_bad_seq=r.first_bad_seq, reason=r.reason)


@router.post("/audit/verify", response_model=AuditVerifyOut)
def verify_against(body: AuditVerifyIn, principal: CurrentPrincipal, session: SessionDep) -> AuditVerifyOut:
    """The chain, and that each exported checkpoint's event is still there unchanged (no rollback)."""
    require_global_admin(principal, Action.audit_read)
    r = audit.verify_chain(session)
    if not r.ok:
        return AuditVerifyOut(ok=False, checked=r.checked, first_bad_seq=r.first_bad_seq, reason=r.reason)
    for cp in body.checkpoints:
        problem = audit.verify_checkpoint(session, audit.Checkpoint(cp.seq, cp.hash, cp.signature))
        if problem:
            return AuditVerifyOut(ok=False, checked=r.checked, first_bad_seq=cp.seq, reason=problem)
    return AuditVerifyOut(ok=True, checked=r.checked)


@router.get("/audit/checkpoint", response_model=AuditCheckpoint)
def checkpoint(principal: CurrentPrincipal, session: SessionDep) -> AuditCheckpoint:
    """The signed head of the chain, to keep outside the registry and verify against later."""
    require_global_admin(principal, Action.audit_read)
    cp = audit.checkpoint(session)
    return AuditCheckpoint(seq=cp.seq, hash=cp.hash, signature=cp.signature)
