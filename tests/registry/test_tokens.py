"""Tokens: shown once, stored only as SHA-256, revocable, expiring, robot scopes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text, update

from registry.models import ApiToken, utcnow
from tests.registry.conftest import Registry, publish


def _dump_database(reg: Registry) -> bytes:
    """Every byte the database holds: the SQLite file(s), or every PostgreSQL row as text."""
    url = reg.db.url
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        with reg.db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    with reg.db.engine.connect() as conn:
        tables = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars().all()
        return "\n".join(str(row) for t in tables for row in conn.execute(text(f'SELECT * FROM "{t}"')).all()).encode()


def test_tokens_are_never_stored_in_clear(registry: Registry) -> None:
    admin = registry.admin
    secrets = [registry.admin_token]
    for i in range(3):
        r = admin.post("/api/v1/tokens", json={"name": f"t{i}"})
        assert r.status_code == 201
        secrets.append(r.json()["token"])
    listed = admin.get("/api/v1/tokens").json()
    assert listed and all("token" not in t for t in listed)
    dump = _dump_database(registry)
    assert len(dump) > 1000
    for s in secrets:
        secret_part = s.split("_", 2)[2]
        assert s.encode() not in dump and secret_part.encode() not in dump
        assert s.split("_", 2)[1].encode() in dump  # the public prefix is what is stored (lookup)


def test_revoked_and_expired_tokens_are_refused(registry: Registry) -> None:
    admin = registry.admin
    new = admin.post("/api/v1/tokens", json={"name": "short"}).json()
    c = registry.client(new["token"])
    assert c.get("/api/v1/me").status_code == 200
    assert admin.delete(f"/api/v1/tokens/{new['prefix']}").status_code == 200
    r = c.get("/api/v1/me")
    assert r.status_code == 401 and r.json()["error"]["message"] == "token was revoked"
    other = admin.post("/api/v1/tokens", json={"name": "old", "expires_days": 1}).json()
    with registry.db.transaction() as s:
        s.execute(
            update(ApiToken)
            .where(ApiToken.prefix == other["prefix"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert registry.client(other["token"]).get("/api/v1/me").json()["error"]["message"] == "token expired"
    tampered = new["token"][:-2] + ("AA" if not new["token"].endswith("AA") else "BB")
    assert registry.client(tampered).get("/api/v1/me").status_code == 401


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_robot_token_is_limited_to_project_and_scopes(registry: Registry) -> None:
    admin = registry.admin
    for p in ("perception", "planning"):
        admin.post("/api/v1/projects", json={"name": p})
    publish(admin, "perception", "detector", "v1")
    publish(admin, "planning", "planner", "v1")
    bad = admin.post(
        "/api/v1/tokens", json={"name": "ci", "robot": True, "project": "perception", "scopes": ["packages:fly"]}
    )
    assert bad.status_code == 400 and "unknown scope" in bad.json()["error"]["message"]
    r = admin.post(
        "/api/v1/tokens",
        json={
            "name": "ci-bot",
            "robot": True,
            "project": "perception",
            "scopes": ["packages:read", "evaluations:write"],
        },
    )
    assert r.status_code == 201
    robot = registry.client(r.json()["token"])
    me = robot.get("/api/v1/me").json()
    assert me["kind"] == "robot" and me["token_project"] == "perception"
    assert robot.get("/api/v1/resolve", params={"ref": "detector@v1"}).status_code == 200
    assert robot.get("/api/v1/resolve", params={"ref": "planner@v1"}).status_code == 404
    assert publish(robot, "perception", "detector", "v2").status_code == 403
    assert robot.post("/api/v1/tokens", json={"name": "escalate"}).status_code == 403
    # A developer cannot mint robots; a project admin can, and can list and revoke them.
    dev = registry.client(registry.user("dev", "perception", "developer"))
    assert (
        dev.post(
            "/api/v1/tokens", json={"name": "bot2", "robot": True, "project": "perception", "scopes": ["packages:read"]}
        ).status_code
        == 403
    )
    padmin = registry.client(registry.user("lead", "perception", "admin"))
    assert "ci-bot" in [t["name"] for t in padmin.get("/api/v1/tokens").json()]
    assert padmin.delete(f"/api/v1/tokens/{r.json()['prefix']}").status_code == 200
    assert robot.get("/api/v1/me").status_code == 401
    # Someone else's token is "not found", not "forbidden".
    assert dev.delete(f"/api/v1/tokens/{r.json()['prefix']}").status_code == 404
