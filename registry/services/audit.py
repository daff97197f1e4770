"""Append-only, hash-chained audit log.

Each event stores the previous event's hash and its own hash over a
canonical JSON of (seq, time, actor, action, target, before, after,
prev_hash). Editing or deleting any row breaks the chain at that row, and
:func:`verify_chain` names it. Appenders lock the single ``audit_head`` row,
so concurrent writers extend the chain one at a time on every backend.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.models import AuditEvent, AuditHead, utcnow

GENESIS = "0" * 64


def _canonical_time(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _jsonable(value: Any) -> Any:
    # Round-trip through JSON so the hash sees exactly what the database stores.
    return json.loads(json.dumps(value, default=str, sort_keys=True))


def event_hash(
    *, seq: int, time: datetime, actor: str, action: str, target: str, before: Any, after: Any, prev_hash: str
) -> str:
    doc = {
        "seq": seq,
        "time": _canonical_time(time),
        "actor": actor,
        "action": action,
        "target": target,
        "before": before,
        "after": after,
        "prev_hash": prev_hash,
    }
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def record_audit(session: Session, actor: str, action: str, target: str, before: Any, after: Any) -> AuditEvent:
    """Append one event in the caller's transaction (it commits or rolls back with the change)."""
    head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one_or_none()
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS)
        session.add(head)
        session.flush()
    # Microseconds are what every backend keeps; the hash must survive a round trip.
    now = utcnow()
    before_j, after_j = _jsonable(before), _jsonable(after)
    seq = head.seq + 1
    # The row stores exactly the fields its hash covers, plus the hash.
    fields: dict[str, Any] = {
        "seq": seq,
        "time": now,
        "actor": actor,
        "action": action,
        "target": target,
        "before": before_j,
        "after": after_j,
        "prev_hash": head.hash,
    }
    digest = event_hash(**fields)
    event = AuditEvent(**fields, hash=digest)
    session.add(event)
    head.seq = seq
    head.hash = digest
    session.flush()
    return event


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str | None = None


def verify_chain(session: Session) -> ChainReport:
    """Recompute every hash in order; report the first row that does not fit."""
    prev = GENESIS
    expected_seq = 1
    checked = 0
    rows = session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars()
    for ev in rows:
        if ev.seq != expected_seq:
            return ChainReport(False, checked, expected_seq, f"event {expected_seq} is missing")
        if ev.prev_hash != prev:
            return ChainReport(False, checked, ev.seq, f"event {ev.seq} does not follow the previous event")
        digest = event_hash(
            seq=ev.seq,
            time=ev.time,
            actor=ev.actor,
            action=ev.action,
            target=ev.target,
            before=ev.before,
            after=ev.after,
            prev_hash=ev.prev_hash,
        )
        if digest != ev.hash:
            return ChainReport(False, checked, ev.seq, f"event {ev.seq} was modified after it was written")
        prev = ev.hash
        expected_seq += 1
        checked += 1
    head = session.get(AuditHead, 1)
    head_seq = head.seq if head else 0
    if head_seq != checked:
        return ChainReport(False, checked, checked + 1, f"event {checked + 1} is missing (log ends early)")
    if head is not None and head.hash != prev:
        return ChainReport(False, checked, checked, f"event {checked} does not match the chain head")
    return ChainReport(True, checked)


def list_events(
    session: Session,
    *,
    target_prefix: str | None = None,
    action: str | None = None,
    limit: int = 100,
    before_seq: int | None = None,
) -> list[AuditEvent]:
    stmt = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit)
    if target_prefix:
        stmt = stmt.where(AuditEvent.target.startswith(target_prefix, autoescape=True))
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if before_seq is not None:
        stmt = stmt.where(AuditEvent.seq < before_seq)
    return list(session.execute(stmt).scalars())
