"""Packages: publish (idempotent, immutable), ordering, channels, deprecation, resolution, download."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.registry.conftest import Registry, file_entry, publish
from toolkit.errors import NotFoundError


def _setup(reg: Registry, project: str = "perception") -> None:
    assert reg.admin.post("/api/v1/projects", json={"name": project}).status_code == 201


def test_publish_is_idempotent_and_immutable(registry: Registry) -> None:
    _setup(registry)
    c = registry.admin
    first = publish(c, "perception", "detector", "v1.0.0", commit="a" * 40)
    assert first.status_code == 201
    again = publish(c, "perception", "detector", "v1.0.0", commit="a" * 40)
    assert again.status_code == 200
    assert again.json()["content_hash"] == first.json()["content_hash"]
    other = publish(
        c, "perception", "detector", "v1.0.0", files=[file_entry("model.pt", b"different")], commit="a" * 40
    )
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "conflict"
    assert "immutable" in other.json()["error"]["message"]
    versions = c.get("/api/v1/projects/perception/packages/detector/versions").json()
    assert [v["version"] for v in versions] == ["v1.0.0"]
    assert versions[0]["files"][0]["md5"] == hashlib.md5(b"wv1.0.0").hexdigest()


def test_versions_order_semver_else_creation_time(registry: Registry) -> None:
    _setup(registry)
    c = registry.admin
    for v in ["v1.2.0", "v1.10.0", "nightly-b", "v1.9.3", "nightly-a"]:
        assert publish(c, "perception", "detector", v).status_code == 201
    order = [v["version"] for v in c.get("/api/v1/projects/perception/packages/detector/versions").json()]
    # Semver pairs compare as semver (1.10 > 1.9 > 1.2); anything else by publication time.
    assert order.index("v1.10.0") < order.index("v1.9.3") < order.index("v1.2.0")
    assert order.index("nightly-a") < order.index("nightly-b")
    assert order[0] == "nightly-a"


def test_channels_resolve_and_protected_production(registry: Registry) -> None:
    _setup(registry)
    admin = registry.admin
    publish(admin, "perception", "detector", "v1.0.0")
    publish(admin, "perception", "detector", "v2.0.0")
    dev = registry.client(registry.user("dev", "perception", "developer"))
    maint = registry.client(registry.user("maint", "perception", "maintainer"))
    url = "/api/v1/projects/perception/packages/detector/channels"
    assert dev.put(f"{url}/staging", json={"version": "v2.0.0"}).status_code == 200
    denied = dev.put(f"{url}/production", json={"version": "v1.0.0"})
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"
    assert maint.put(f"{url}/production", json={"version": "v1.0.0"}).status_code == 200
    assert dev.get("/api/v1/resolve", params={"ref": "detector@production"}).json()["version"] == "v1.0.0"
    assert dev.get("/api/v1/resolve", params={"ref": "perception/detector#staging"}).json()["version"] == "v2.0.0"
    assert dev.get("/api/v1/resolve", params={"ref": "detector@v2.0.0"}).json()["version"] == "v2.0.0"
    assert maint.put(f"{url}/production", json={"version": "v2.0.0"}).status_code == 200
    assert dev.get("/api/v1/resolve", params={"ref": "detector@production"}).json()["version"] == "v2.0.0"
    missing = dev.get("/api/v1/resolve", params={"ref": "detector@nope"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    bad = dev.get("/api/v1/resolve", params={"ref": "no-separator"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"
    moves = admin.get("/api/v1/audit", params={"action": "channel.set"}).json()
    assert [(e["actor"], e["after"]["version"]) for e in moves][:2] == [("maint", "v2.0.0"), ("maint", "v1.0.0")]
    assert moves[0]["before"] == {"version": "v1.0.0"}


def test_version_and_channel_names_never_collide_and_names_need_project_when_ambiguous(registry: Registry) -> None:
    _setup(registry)
    _setup(registry, "planning")
    c = registry.admin
    publish(c, "perception", "detector", "stable")
    publish(c, "perception", "detector", "v3")
    # NAME@X is unambiguous: a channel cannot take a version's name (nor a version a channel's, see test_security).
    r = c.put("/api/v1/projects/perception/packages/detector/channels/stable", json={"version": "v3"})
    assert r.status_code == 409
    c.put("/api/v1/projects/perception/packages/detector/channels/candidate", json={"version": "v3"})
    assert c.get("/api/v1/resolve", params={"ref": "detector@stable"}).json()["version"] == "stable"
    assert c.get("/api/v1/resolve", params={"ref": "detector@candidate"}).json()["version"] == "v3"
    assert c.get("/api/v1/resolve", params={"ref": "detector#candidate"}).json()["version"] == "v3"
    assert c.get("/api/v1/resolve", params={"ref": "detector#stable"}).status_code == 404
    publish(c, "planning", "detector", "v3")
    amb = c.get("/api/v1/resolve", params={"ref": "detector@v3"})
    assert amb.status_code == 400 and "perception" in amb.json()["error"]["message"]
    assert c.get("/api/v1/resolve", params={"ref": "planning/detector@v3"}).json()["project"] == "planning"


def test_deprecate_keeps_version_but_blocks_channels(registry: Registry) -> None:
    _setup(registry)
    c = registry.admin
    publish(c, "perception", "detector", "v1")
    dev = registry.client(registry.user("dev", "perception", "developer"))
    base = "/api/v1/projects/perception/packages/detector/versions/v1"
    assert dev.post(f"{base}/deprecate", json={"reason": "bad"}).status_code == 403
    r = c.post(f"{base}/deprecate", json={"reason": "regression on night scenes"})
    assert r.status_code == 200 and r.json()["deprecated"] and r.json()["deprecated_by"] == "admin"
    assert c.get(base).json()["deprecation_reason"] == "regression on night scenes"
    assert c.get("/api/v1/resolve", params={"ref": "detector@v1"}).json()["deprecated"] is True
    blocked = c.put("/api/v1/projects/perception/packages/detector/channels/staging", json={"version": "v1"})
    assert blocked.status_code == 400 and "deprecated" in blocked.json()["error"]["message"]


def test_invalid_input_is_a_clear_400_or_422(registry: Registry) -> None:
    _setup(registry)
    c = registry.admin
    bad_path = publish(c, "perception", "detector", "v1", files=[{**file_entry("x", b"1"), "path": "../etc/passwd"}])
    assert bad_path.status_code == 400 and "'..'" in bad_path.json()["error"]["message"]
    bad_version = publish(c, "perception", "detector", "has space")
    assert bad_version.status_code == 400
    bad_md5 = publish(c, "perception", "detector", "v1", files=[{"path": "a", "md5": "Z" * 32, "size": 1}])
    assert bad_md5.status_code == 400
    missing = c.post("/api/v1/projects/perception/packages/detector/versions", json={"files": []})
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "invalid_request"
    nowhere = publish(c, "no-such-project", "detector", "v1")
    assert nowhere.status_code == 404
    assert c.get("/api/v1/packages").json() == []


def test_download_streams_recorded_file(registry: Registry, tmp_path: Path) -> None:
    _setup(registry)
    c = registry.admin
    blob = tmp_path / "weights.bin"
    blob.write_bytes(b"\x00\x01" * 100_000)
    publish(
        c,
        "perception",
        "detector",
        "v1",
        files=[
            file_entry("sub/weights.bin", blob.read_bytes(), str(blob)),
            file_entry("gone.bin", b"x", str(tmp_path / "missing")),
        ],
    )
    r = c.get("/api/v1/projects/perception/packages/detector/versions/v1/files/sub/weights.bin")
    assert r.status_code == 200 and r.content == blob.read_bytes()
    assert r.headers["x-pitlane-md5"] == hashlib.md5(blob.read_bytes()).hexdigest()
    gone = c.get("/api/v1/projects/perception/packages/detector/versions/v1/files/gone.bin")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"
    nofile = c.get("/api/v1/projects/perception/packages/detector/versions/v1/files/other")
    assert nofile.status_code == 404


def test_python_resolve_agrees_with_the_http_hot_path(registry: Registry) -> None:
    from registry.services import packages as svc
    from registry.services.tokens import authenticate

    _setup(registry)
    _setup(registry, "planning")
    c = registry.admin
    for v in ("stable", "v1", "v2"):
        publish(c, "perception", "detector", v)
    publish(c, "planning", "planner", "v1")
    c.put("/api/v1/projects/perception/packages/detector/channels/candidate", json={"version": "v2"})
    c.put("/api/v1/projects/perception/packages/detector/channels/production", json={"version": "v1"})
    viewer = registry.user("vera", "perception", "viewer")
    with registry.db.transaction(write=False) as s:
        actor = authenticate(s, viewer)
        for ref in ("detector@stable", "detector#candidate", "detector@production", "perception/detector@v2"):
            assert svc.resolve(s, actor, ref).version == svc.resolve_out(s, actor, ref).version, ref
        for ref in ("planner@v1", "detector@nope", "other/detector@v1"):
            with pytest.raises(NotFoundError):
                svc.resolve(s, actor, ref)
            with pytest.raises(NotFoundError):
                svc.resolve_out(s, actor, ref)
