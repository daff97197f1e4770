"""Audit: every write is logged; editing or deleting any row is detected and named."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update

from registry.models import AuditEvent
from tests.registry.conftest import Registry, publish


def _activity(reg: Registry) -> None:
    c = reg.admin
    c.post("/api/v1/projects", json={"name": "perception"})
    publish(c, "perception", "detector", "v1")
    publish(c, "perception", "detector", "v2")
    c.put("/api/v1/projects/perception/packages/detector/channels/production", json={"version": "v1"})
    c.put("/api/v1/projects/perception/packages/detector/channels/production", json={"version": "v2"})
    c.post("/api/v1/projects/perception/packages/detector/versions/v1/deprecate", json={"reason": "old"})


def test_every_write_is_audited_with_before_and_after(registry: Registry) -> None:
    _activity(registry)
    events = registry.admin.get("/api/v1/audit", params={"limit": 100}).json()
    actions = [e["action"] for e in reversed(events)]
    assert actions[-7:] == [
        "project.create",
        "package.create",
        "version.publish",
        "version.publish",
        "channel.set",
        "channel.set",
        "version.deprecate",
    ]
    move = next(e for e in events if e["action"] == "channel.set")
    assert move["before"] == {"version": "v1"} and move["after"] == {"version": "v2"}
    assert move["actor"] == "admin" and move["target"] == "package:perception/detector#production"
    # Reads and refused writes leave no trace.
    viewer = registry.client(registry.user("v", "perception", "viewer"))
    count = len(registry.admin.get("/api/v1/audit", params={"limit": 1000}).json())
    viewer.get("/api/v1/packages")
    assert publish(viewer, "perception", "detector", "v3").status_code == 403
    assert len(registry.admin.get("/api/v1/audit", params={"limit": 1000}).json()) == count
    assert registry.admin.get("/api/v1/audit/verify").json() == {
        "ok": True,
        "checked": count,
        "first_bad_seq": None,
        "reason": None,
    }


@pytest.mark.parametrize("tamper", ["edit", "delete", "delete-last"])
def test_verify_names_the_first_tampered_row(registry: Registry, tamper: str) -> None:
    _activity(registry)
    with registry.db.transaction() as s:
        seqs = list(s.execute(select(AuditEvent.seq).order_by(AuditEvent.seq)).scalars())
        victim = seqs[-1] if tamper == "delete-last" else seqs[len(seqs) // 2]
        if tamper == "edit":
            s.execute(update(AuditEvent).where(AuditEvent.seq == victim).values(actor="mallory"))
        else:
            s.execute(delete(AuditEvent).where(AuditEvent.seq == victim))
    report = registry.admin.get("/api/v1/audit/verify").json()
    assert report["ok"] is False
    assert report["first_bad_seq"] == victim
    assert str(victim) in report["reason"]


def test_rehashing_an_edited_row_still_breaks_the_chain(registry: Registry) -> None:
    from registry.services.audit import event_hash

    _activity(registry)
    with registry.db.transaction() as s:
        ev = s.execute(select(AuditEvent).where(AuditEvent.action == "channel.set")).scalars().first()
        assert ev is not None
        victim = ev.seq
        # An attacker who recomputes the edited row's own hash still breaks the next row's link.
        ev.after = {"version": "evil"}
        ev.hash = event_hash(
            seq=ev.seq,
            time=ev.time,
            actor=ev.actor,
            action=ev.action,
            target=ev.target,
            before=ev.before,
            after=ev.after,
            prev_hash=ev.prev_hash,
        )
    report = registry.admin.get("/api/v1/audit/verify").json()
    assert report["ok"] is False and report["first_bad_seq"] == victim + 1
