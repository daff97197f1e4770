"""Append-only, keyed hash chain of audit events.

Each event stores the previous event's hash and its own HMAC-SHA256 over a
canonical JSON of (seq, time, actor, action, target, before, after,
prev_hash). The key lives outside the database (``PITLANE_AUDIT_KEY``, else
``$PITLANE_HOME/audit.key``, created once with mode 0600), so someone who can
write the database can neither edit a row nor rebuild the chain after it:
:func:`verify_chain` names the first row that does not fit. Signed
checkpoints of the head (:func:`checkpoint`), kept outside the registry,
also catch a chain cut back to an earlier, still valid, head.
Appenders lock the single ``audit_head`` row, so concurrent writers extend
the chain one at a time on every backend.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.models import AuditEvent, AuditHead, utcnow

GENESIS = "0" * 64
KEY_ENV = "PITLANE_AUDIT_KEY"
_keys: dict[tuple[str, str], bytes] = {}
_keys_lock = threading.Lock()


def audit_key() -> bytes:
    """The chain's HMAC key: PITLANE_AUDIT_KEY, else $PITLANE_HOME/audit.key (created on first use)."""
    from toolkit.config import default_home

    explicit = os.environ.get(KEY_ENV, "")
    home = str(default_home())
    cache_key = (explicit, home)
    with _keys_lock:
        if cache_key in _keys:
            return _keys[cache_key]
        if explicit:
            key = explicit.encode()
        else:
            path = os.path.join(home, "audit.key")
            os.makedirs(home, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process (or an earlier start) made it: use that one
            else:
                with os.fdopen(fd, "w") as fh:
                    fh.write(secrets.token_hex(32) + "\n")
            with open(path, "rb") as fh:
                key = fh.read().strip()
            if not key:
                raise RuntimeError(f"{path} is empty: restore the registry's audit key")
        _keys[cache_key] = key
        return key


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
    return hmac.new(audit_key(), canonical.encode(), hashlib.sha256).hexdigest()


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
        if not hmac.compare_digest(digest.encode(), ev.hash.encode()):
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


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    signature: str


def _sign(seq: int, digest: str) -> str:
    return hmac.new(audit_key(), f"pitlane-audit-checkpoint:{seq}:{digest}".encode(), hashlib.sha256).hexdigest()


def checkpoint(session: Session) -> Checkpoint:
    """The chain's head, signed with the audit key: keep it outside the registry, verify against it later."""
    head = session.get(AuditHead, 1)
    seq, digest = (head.seq, head.hash) if head else (0, GENESIS)
    return Checkpoint(seq, digest, _sign(seq, digest))


def verify_checkpoint(session: Session, cp: Checkpoint) -> str | None:
    """None when the chain still holds the checkpoint's event unchanged; else why not."""
    if not hmac.compare_digest(_sign(cp.seq, cp.hash).encode(), cp.signature.encode()):
        return f"checkpoint {cp.seq} is not signed by this registry's audit key"
    if cp.seq == 0:
        return None
    row = session.execute(select(AuditEvent).where(AuditEvent.seq == cp.seq)).scalar_one_or_none()
    if row is None:
        return f"event {cp.seq} of a checkpoint is gone: the log was cut back"
    if not hmac.compare_digest(row.hash.encode(), cp.hash.encode()):
        return f"event {cp.seq} differs from its checkpoint: the log was rewritten"
    return None


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
