"""Authorization matrix: every endpoint x every kind of caller, with no existence leaks.

The expectations are written here from the role table in docs/registry.md
(minimum role per action), independently of registry.core.security:
callers who cannot see a project/package get 404 exactly like for a name
that does not exist; callers who can see it but lack the role get 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.registry.conftest import Registry, file_entry, publish

RANK = {None: -1, "viewer": 0, "developer": 1, "maintainer": 2, "admin": 3}
PKG = "/api/v1/projects/perception/packages/detector"


@dataclass(frozen=True)
class Caller:
    name: str
    project_role: str | None  # role in project "perception"
    package_role: str | None  # effective role on perception/detector
    registry_admin: bool = False
    scopes: frozenset[str] | None = None  # robot tokens


@dataclass(frozen=True)
class Endpoint:
    key: str
    method: str
    path: str
    level: str  # "project" (needs a project role), "package" (project role or grant/share), "admin" (registry admin)
    min_role: str | None
    scope: str | None = None
    body: Any = None


CALLERS = [
    Caller("viewer", "viewer", "viewer"),
    Caller("developer", "developer", "developer"),
    Caller("maintainer", "maintainer", "maintainer"),
    Caller("padmin", "admin", "admin"),
    Caller("root", "admin", "admin", registry_admin=True),
    Caller("outsider", None, None),  # member of another project only
    Caller("sharee", None, "viewer"),  # member of "planning", which detector is shared with
    Caller("granted", None, "developer"),  # per-package user grant, no project role
    Caller("robot-read", "admin", "admin", scopes=frozenset({"packages:read"})),
    Caller("robot-write", "admin", "admin", scopes=frozenset({"packages:read", "packages:write"})),
    Caller("robot-elsewhere", None, None, scopes=frozenset({"packages:read"})),
]


def endpoints(caller: str) -> list[Endpoint]:
    # Writes use per-caller targets so one caller's success never changes another's expectation.
    return [
        Endpoint("get-project", "GET", "/api/v1/projects/perception", "project", "viewer", "packages:read"),
        Endpoint("members", "GET", "/api/v1/projects/perception/members", "project", "viewer", "packages:read"),
        Endpoint(
            "add-member",
            "PUT",
            "/api/v1/projects/perception/members/bystander",
            "project",
            "admin",
            "access:manage",
            {"role": "viewer"},
        ),
        Endpoint(
            "protect",
            "PUT",
            "/api/v1/projects/perception/protected-channels",
            "project",
            "admin",
            "access:manage",
            {"channels": ["production"]},
        ),
        Endpoint("get-package", "GET", PKG, "package", "viewer", "packages:read"),
        Endpoint("versions", "GET", f"{PKG}/versions", "package", "viewer", "packages:read"),
        Endpoint("version", "GET", f"{PKG}/versions/v1", "package", "viewer", "packages:read"),
        Endpoint("download", "GET", f"{PKG}/versions/v1/files/model.pt", "package", "viewer", "packages:read"),
        Endpoint("channels", "GET", f"{PKG}/channels", "package", "viewer", "packages:read"),
        Endpoint("grants", "GET", f"{PKG}/grants", "package", "viewer", "packages:read"),
        Endpoint(
            "resolve", "GET", "/api/v1/resolve?ref=perception/detector@staging", "package", "viewer", "packages:read"
        ),
        Endpoint(
            "publish",
            "POST",
            f"{PKG}/versions",
            "package",
            "developer",
            "packages:write",
            {"version": f"v-{caller}", "files": [file_entry("model.pt", caller.encode())]},
        ),
        Endpoint(
            "staging",
            "PUT",
            f"{PKG}/channels/staging-{caller}",
            "package",
            "developer",
            "packages:write",
            {"version": "v1"},
        ),
        Endpoint(
            "production",
            "PUT",
            f"{PKG}/channels/production",
            "package",
            "maintainer",
            "channels:protected",
            {"version": "v1"},
        ),
        Endpoint("drop-channel", "DELETE", f"{PKG}/channels/tmp-{caller}", "package", "developer", "packages:write"),
        Endpoint(
            "deprecate",
            "POST",
            f"{PKG}/versions/dep-{caller}/deprecate",
            "package",
            "maintainer",
            "packages:manage",
            {"reason": "matrix"},
        ),
        Endpoint(
            "grant",
            "POST",
            f"{PKG}/grants",
            "package",
            "maintainer",
            "packages:manage",
            {"user": "bystander", "role": "viewer"},
        ),
        Endpoint("create-project", "POST", "/api/v1/projects", "admin", None, None, {"name": f"new-{caller}"}),
        Endpoint("users", "GET", "/api/v1/users", "admin", None),
        Endpoint("create-user", "POST", "/api/v1/users", "admin", None, None, {"name": f"u-{caller}"}),
        Endpoint("audit", "GET", "/api/v1/audit", "admin", None),
        Endpoint("audit-verify", "GET", "/api/v1/audit/verify", "admin", None),
    ]


def expected(c: Caller, e: Endpoint) -> str:
    """'ok', 'forbidden' or 'not_found' from the documented rules alone."""
    if e.level == "admin":
        return "ok" if c.registry_admin else "forbidden"
    role = c.project_role if e.level == "project" else c.package_role
    if role is None:
        return "not_found"
    if RANK[role] < RANK[e.min_role]:
        return "forbidden"
    if c.scopes is not None and e.scope not in c.scopes:
        return "forbidden"
    return "ok"


def _tokens(reg: Registry, tmp_path: Any) -> dict[str, str]:
    admin = reg.admin
    for p in ("perception", "planning", "other"):
        assert admin.post("/api/v1/projects", json={"name": p}).status_code == 201
    blob = tmp_path / "model.pt"
    blob.write_bytes(b"weights")
    files = [file_entry("model.pt", b"weights", str(blob))]
    assert publish(admin, "perception", "detector", "v1", files).status_code == 201
    assert publish(admin, "perception", "secret", "v1").status_code == 201
    for c in CALLERS:
        publish(admin, "perception", "detector", f"dep-{c.name}")
        admin.put(f"{PKG}/channels/tmp-{c.name}", json={"version": "v1"})
    admin.put(f"{PKG}/channels/staging", json={"version": "v1"})
    admin.post("/api/v1/users", json={"name": "bystander"})
    tokens = {"root": reg.admin_token}
    for c in CALLERS:
        if c.name == "root" or c.scopes is not None:
            continue
        if c.name == "outsider":
            tokens[c.name] = reg.user(c.name, "other", "viewer")
        elif c.name == "sharee":
            tokens[c.name] = reg.user(c.name, "planning", "viewer")
        elif c.name == "granted":
            tokens[c.name] = reg.user(c.name)
        else:
            tokens[c.name] = reg.user(c.name, "perception", c.project_role)
    assert admin.post(f"{PKG}/grants", json={"project": "planning"}).status_code == 200  # read-only share
    assert admin.post(f"{PKG}/grants", json={"user": "granted", "role": "developer"}).status_code == 200
    for c in CALLERS:
        if c.scopes is None:
            continue
        project = "other" if c.name == "robot-elsewhere" else "perception"
        r = admin.post(
            "/api/v1/tokens", json={"name": c.name, "robot": True, "project": project, "scopes": sorted(c.scopes)}
        )
        assert r.status_code == 201, r.text
        tokens[c.name] = r.json()["token"]
    return tokens


def _call(client: httpx.Client, e: Endpoint) -> httpx.Response:
    return client.request(e.method, e.path, json=e.body) if e.body is not None else client.request(e.method, e.path)


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_authorization_matrix(registry: Registry, tmp_path: Any) -> None:
    tokens = _tokens(registry, tmp_path)
    wrong: list[str] = []
    for c in CALLERS:
        client = registry.client(tokens[c.name])
        for e in endpoints(c.name):
            r = _call(client, e)
            want = expected(c, e)
            got = "ok" if r.status_code < 300 else r.json()["error"]["code"]
            if got != want:
                wrong.append(f"{c.name} {e.key}: expected {want}, got {r.status_code} {r.text[:120]}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_hidden_is_indistinguishable_from_missing(registry: Registry, tmp_path: Any) -> None:
    tokens = _tokens(registry, tmp_path)
    for who in ("outsider", "sharee", "robot-elsewhere"):
        client = registry.client(tokens[who])
        for suffix in ("", "/versions", "/versions/v1", "/channels", "/grants", "/versions/v1/files/model.pt"):
            hidden = client.get(f"/api/v1/projects/perception/packages/secret{suffix}")
            missing = client.get(f"/api/v1/projects/perception/packages/nosuchpkg{suffix}")
            assert hidden.status_code == missing.status_code == 404, (who, suffix)
            assert hidden.json()["error"]["message"].replace("secret", "X") == missing.json()["error"][
                "message"
            ].replace("nosuchpkg", "X")
        hidden = client.get("/api/v1/resolve", params={"ref": "perception/secret@v1"})
        missing = client.get("/api/v1/resolve", params={"ref": "perception/nosuchpkg@v1"})
        assert hidden.status_code == missing.status_code == 404
        names = {(p["project"], p["name"]) for p in client.get("/api/v1/packages").json()}
        assert ("perception", "secret") not in names
        assert (("perception", "detector") in names) == (who == "sharee")
    # The share is read-only: a sharee can read but not publish or move channels.
    sharee = registry.client(tokens["sharee"])
    assert publish(sharee, "perception", "detector", "v9").status_code == 403


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_anonymous_gets_401_everywhere_but_health_and_docs(registry: Registry) -> None:
    anon = registry.client()
    assert anon.get("/api/v1/health").status_code == 200
    assert anon.get("/openapi.json").status_code == 200
    assert anon.get("/docs").status_code == 200
    for e in endpoints("anon"):
        r = _call(anon, e)
        assert r.status_code == 401, (e.key, r.status_code)
        assert r.json()["error"]["code"] == "unauthenticated"
    assert anon.get("/api/v1/no/such/route").status_code == 401
    bad = registry.client("plt_000000000000_not-a-real-token")
    assert bad.get("/api/v1/packages").status_code == 401
    assert registry.client("garbage").get("/api/v1/packages").json()["error"]["message"] == "malformed token"
