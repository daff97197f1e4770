"""Authorization matrix: every endpoint x every kind of caller, with no existence leaks.

The expectations are written here from the role table in docs/registry.md
(minimum role per action), independently of registry.core.security:
callers who cannot see a project/package get 404 exactly like for a name
that does not exist; callers who can see it but lack the role get 403.
"""

from __future__ import annotations

import json
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


# --- every route has a row ---------------------------------------------------------------------
# Issue 22: the matrix above covers the package core in depth; this one gives *every* route of the app
# (OpenAPI operations and server-rendered pages) a row, and fails when a route is added without one.
# Levels: "public" (anyone), "signed" (the request carries its own credential: a webhook's HMAC, the login
# form's token; a wrong one is refused for everyone), "csrf" (page form posts:
# refused without the form's CSRF token), "login" (any authenticated caller; answers are filtered),
# "human" (login, but not project-scoped robot tokens), "admin" (registry admin with the admin scope),
# "project"/"package" (role in perception, or grant/share for packages, plus scope), "data" (perception owns
# the data catalogue). `missing`: the row's target does not exist, so allowed callers get a 404 of their own.
RUN = "/api/v1/runs/{run}"
EXP = "/api/v1/experiments/perception/exp"


@dataclass(frozen=True)
class Row:
    route: str  # "METHOD /template" exactly as the app declares it
    path: str  # a concrete request; {caller} and {run}/{remote} are filled in
    level: str
    min_role: str | None = None
    scope: str | None = None
    body: Any = None
    missing: bool = False
    html: bool = False


ROWS: list[Row] = [
    Row("GET /openapi.json", "/openapi.json", "public"),
    Row("GET /docs", "/docs", "public"),
    Row("GET /docs/oauth2-redirect", "/docs/oauth2-redirect", "public"),
    Row("GET /static", "/static/pitlane.css", "public"),
    Row("GET /", "/", "public"),
    Row("GET /login", "/login", "public", html=True),
    Row("POST /login", "/login", "signed", body={"form": {"token": "plt_000000000000_bad"}}),
    Row("POST /logout", "/logout", "csrf", body={"form": {"csrf": "forged"}}),
    Row("GET /api/v1/health", "/api/v1/health", "public"),
    Row("POST /api/v1/webhooks/github", "/api/v1/webhooks/github", "signed", body={}),
    Row("GET /api/v1/me", "/api/v1/me", "login"),
    Row("GET /api/v1/resolve", "/api/v1/resolve?ref=perception/detector@v1", "package", "viewer", "packages:read"),
    Row("GET /api/v1/projects", "/api/v1/projects", "login"),
    Row("POST /api/v1/projects", "/api/v1/projects", "admin", body={"name": "m-{caller}"}),
    Row("GET /api/v1/projects/{project}", "/api/v1/projects/perception", "project", "viewer"),
    Row(
        "PUT /api/v1/projects/{project}/protected-channels",
        "/api/v1/projects/perception/protected-channels",
        "project",
        "admin",
        "access:manage",
        {"channels": ["production"]},
    ),
    Row("GET /api/v1/projects/{project}/trust-roots", "/api/v1/projects/perception/trust-roots", "project", "viewer"),
    Row(
        "POST /api/v1/projects/{project}/trust-roots",
        "/api/v1/projects/perception/trust-roots",
        "project",
        "admin",
        "access:manage",
        {"public_key": "not a key"},
    ),
    Row(
        "POST /api/v1/projects/{project}/trust-roots/{keyid}/revoke",
        "/api/v1/projects/perception/trust-roots/0000000000000000/revoke",
        "project",
        "admin",
        "access:manage",
        {},
        missing=True,
    ),
    Row("GET /api/v1/users", "/api/v1/users", "admin"),
    Row("POST /api/v1/users", "/api/v1/users", "admin", body={"name": "m-{caller}"}),
    Row(
        "GET /api/v1/projects/{project}/members",
        "/api/v1/projects/perception/members",
        "project",
        "viewer",
        "packages:read",
    ),
    Row(
        "PUT /api/v1/projects/{project}/members/{user}",
        "/api/v1/projects/perception/members/bystander",
        "project",
        "admin",
        "access:manage",
        {"role": "viewer"},
    ),
    Row(
        "DELETE /api/v1/projects/{project}/members/{user}",
        "/api/v1/projects/perception/members/nobody",
        "project",
        "admin",
        "access:manage",
        missing=True,
    ),
    Row("GET /api/v1/projects/{project}/packages/{name}/grants", f"{PKG}/grants", "package", "viewer", "packages:read"),
    Row(
        "POST /api/v1/projects/{project}/packages/{name}/grants",
        f"{PKG}/grants",
        "package",
        "maintainer",
        "packages:manage",
        {"user": "bystander", "role": "viewer"},
    ),
    Row(
        "DELETE /api/v1/projects/{project}/packages/{name}/grants",
        f"{PKG}/grants?user=nobody",
        "package",
        "maintainer",
        "packages:manage",
        missing=True,
    ),
    Row("GET /api/v1/packages", "/api/v1/packages", "login"),
    Row(
        "POST /api/v1/projects/{project}/packages",
        "/api/v1/projects/perception/packages",
        "project",
        "developer",
        "packages:write",
        {"name": "m-{caller}"},
    ),
    Row("GET /api/v1/projects/{project}/packages/{name}", PKG, "package", "viewer", "packages:read"),
    Row(
        "GET /api/v1/projects/{project}/packages/{name}/versions",
        f"{PKG}/versions",
        "package",
        "viewer",
        "packages:read",
    ),
    Row(
        "POST /api/v1/projects/{project}/packages/{name}/versions",
        f"{PKG}/versions",
        "package",
        "developer",
        "packages:write",
        {"version": "m-{caller}", "files": [file_entry("m.pt", b"m")]},
    ),
    Row(
        "GET /api/v1/projects/{project}/packages/{name}/versions/{version}",
        f"{PKG}/versions/v1",
        "package",
        "viewer",
        "packages:read",
    ),
    Row(
        "POST /api/v1/projects/{project}/packages/{name}/versions/{version}/deprecate",
        f"{PKG}/versions/dep-{{caller}}/deprecate",
        "package",
        "maintainer",
        "packages:manage",
        {"reason": "m"},
    ),
    Row(
        "GET /api/v1/projects/{project}/packages/{name}/channels",
        f"{PKG}/channels",
        "package",
        "viewer",
        "packages:read",
    ),
    Row(
        "PUT /api/v1/projects/{project}/packages/{name}/channels/{channel}",
        f"{PKG}/channels/m-{{caller}}",
        "package",
        "developer",
        "packages:write",
        {"version": "v1"},
    ),
    Row(
        "DELETE /api/v1/projects/{project}/packages/{name}/channels/{channel}",
        f"{PKG}/channels/tmp-{{caller}}",
        "package",
        "developer",
        "packages:write",
    ),
    Row(
        "GET /api/v1/projects/{project}/packages/{name}/versions/{version}/files/{path:path}",
        f"{PKG}/versions/v1/files/model.pt",
        "package",
        "viewer",
        "packages:read",
    ),
    Row("GET /api/v1/tokens", "/api/v1/tokens", "login"),
    Row("POST /api/v1/tokens", "/api/v1/tokens", "human", body={"name": "m-{caller}"}),
    Row("DELETE /api/v1/tokens/{prefix}", "/api/v1/tokens/000000000000", "login", missing=True),
    Row("GET /api/v1/audit", "/api/v1/audit", "admin"),
    Row("GET /api/v1/audit/verify", "/api/v1/audit/verify", "admin"),
    Row("POST /api/v1/audit/verify", "/api/v1/audit/verify", "admin", body={"checkpoints": []}),
    Row("GET /api/v1/audit/checkpoint", "/api/v1/audit/checkpoint", "admin"),
    Row("GET /api/v1/bags", "/api/v1/bags", "data", "viewer", "data:read"),
    Row("GET /api/v1/bags/{bag_id}", "/api/v1/bags/nobag", "data", "viewer", "data:read", missing=True),
    Row(
        "GET /api/v1/bags/{bag_id}/timeline", "/api/v1/bags/nobag/timeline", "data", "viewer", "data:read", missing=True
    ),
    Row(
        "GET /api/v1/bags/{bag_id}/thumbnail",
        "/api/v1/bags/nobag/thumbnail?topic=/t",
        "data",
        "viewer",
        "data:read",
        missing=True,
    ),
    Row("GET /api/v1/datasets", "/api/v1/datasets", "data", "viewer", "data:read"),
    Row("GET /api/v1/datasets/{name}", "/api/v1/datasets/nods", "data", "viewer", "data:read", missing=True),
    Row(
        "GET /api/v1/datasets/{name}/manifest",
        "/api/v1/datasets/nods/manifest",
        "data",
        "viewer",
        "data:read",
        missing=True,
    ),
    Row(
        "GET /api/v1/datasets/{name}/frames/{frame_id}/thumbnail",
        "/api/v1/datasets/nods/frames/f/thumbnail",
        "data",
        "viewer",
        "data:read",
        missing=True,
    ),
    Row("GET /data", "/data", "data", "viewer", "data:read", html=True),
    Row("GET /data/bags/{bag_id}", "/data/bags/nobag", "data", "viewer", "data:read", missing=True, html=True),
    Row(
        "GET /data/bags/{bag_id}/thumbnail.png",
        "/data/bags/nobag/thumbnail.png?topic=/t",
        "data",
        "viewer",
        "data:read",
        missing=True,
    ),
    Row("GET /datasets", "/datasets", "data", "viewer", "data:read", html=True),
    Row("GET /datasets/{name}", "/datasets/nods", "data", "viewer", "data:read", missing=True, html=True),
    Row(
        "GET /datasets/{name}/frames/{frame_id}/thumbnail.png",
        "/datasets/nods/frames/f/thumbnail.png",
        "data",
        "viewer",
        "data:read",
        missing=True,
    ),
    Row(
        "POST /api/v1/projects/{project}/remotes",
        "/api/v1/projects/perception/remotes",
        "project",
        "maintainer",
        "packages:manage",
        {"url": "https://git.example/{caller}.git"},
    ),
    Row(
        "GET /api/v1/projects/{project}/remotes",
        "/api/v1/projects/perception/remotes",
        "project",
        "viewer",
        "packages:read",
    ),
    Row(
        "POST /api/v1/remotes/{remote_id}/sync",
        "/api/v1/remotes/{remote}/sync",
        "project",
        "developer",
        "packages:write",
    ),
    Row("GET /api/v1/remotes/{remote_id}/tags", "/api/v1/remotes/{remote}/tags", "project", "viewer", "packages:read"),
    Row(
        "POST /api/v1/projects/{project}/packages/{name}/versions/{version}/evaluations",
        f"{PKG}/versions/v1/evaluations",
        "package",
        "developer",
        "evaluations:write",
        {"suite": "m", "passed": 1, "failed": 0, "total": 1, "verdict": "pass"},
    ),
    Row(
        "GET /api/v1/projects/{project}/packages/{name}/versions/{version}/evaluations",
        f"{PKG}/versions/v1/evaluations",
        "package",
        "viewer",
        "evaluations:read",
    ),
    Row(
        "GET /api/v1/projects/{project}/packages/{name}/evaluations",
        f"{PKG}/evaluations",
        "package",
        "viewer",
        "evaluations:read",
    ),
    Row(
        "POST /api/v1/projects/{project}/firmware",
        "/api/v1/projects/perception/firmware",
        "project",
        "developer",
        "firmware:write",
        {"name": "fw-{caller}", "version": "1", "packages": ["perception/detector@v1"]},
    ),
    Row("GET /api/v1/firmware", "/api/v1/firmware", "login"),
    Row("GET /api/v1/firmware/{name}/{version}", "/api/v1/firmware/fw/1", "project", "viewer"),
    Row(
        "POST /api/v1/deployments",
        "/api/v1/deployments",
        "project",
        "developer",
        "deployments:write",
        {"vehicle": "car-{caller}", "firmware": "perception/fw@1", "deployed_at": "2026-12-01T00:00:00+00:00"},
    ),
    Row("GET /api/v1/deployments", "/api/v1/deployments", "login"),
    Row(
        "GET /api/v1/lineage/{subject:path}",
        "/api/v1/lineage/package:perception/detector@v1",
        "package",
        "viewer",
        "packages:read",
    ),
    Row("GET /api/v1/experiments", "/api/v1/experiments", "login"),
    Row(
        "POST /api/v1/experiments",
        "/api/v1/experiments",
        "project",
        "maintainer",
        "packages:manage",
        {"project": "perception", "name": "m-{caller}", "repo_url": "https://git.example/x.git"},
    ),
    Row("GET /api/v1/experiments/{project}/{name}/runs", f"{EXP}/runs", "project", "viewer", "packages:read"),
    # Past authorization, the override check refuses the run before anything is cloned (400).
    Row(
        "POST /api/v1/experiments/{project}/{name}/runs",
        f"{EXP}/runs",
        "project",
        "maintainer",
        "packages:manage",
        {"overrides": ["not-an-override"]},
    ),
    Row("GET /api/v1/runs/{run_id}", RUN, "project", "viewer", "packages:read"),
    # The run has succeeded and is released: retry, stop and release answer 409 past authorization.
    Row("POST /api/v1/runs/{run_id}/retry", f"{RUN}/retry", "project", "maintainer", "packages:manage", {}),
    Row("POST /api/v1/runs/{run_id}/stop", f"{RUN}/stop", "project", "maintainer", "packages:manage", {}),
    Row(
        "POST /api/v1/runs/{run_id}/release",
        f"{RUN}/release",
        "project",
        "maintainer",
        "packages:manage",
        {"package": "detector", "version": "m"},
    ),
    Row("GET /experiments", "/experiments", "login", html=True),
    Row(
        "GET /experiments/{project}/{name}",
        "/experiments/perception/exp",
        "project",
        "viewer",
        "packages:read",
        html=True,
    ),
    Row("GET /runs/{run_id}", "/runs/{run}", "project", "viewer", "packages:read", html=True),
    Row("GET /trace", "/trace?subject=package:perception/detector@v1", "package", "viewer", "packages:read", html=True),
    Row("GET /packages", "/packages", "login", html=True),
    Row(
        "GET /packages/{project}/{name}",
        "/packages/perception/detector",
        "package",
        "viewer",
        "packages:read",
        html=True,
    ),
    Row(
        "POST /packages/{project}/{name}/channel",
        "/packages/perception/detector/channel",
        "csrf",
        body={"form": {"csrf": "forged", "channel": "x", "version": "v1"}},
    ),
    Row(
        "POST /packages/{project}/{name}/deprecate",
        "/packages/perception/detector/deprecate",
        "csrf",
        body={"form": {"csrf": "forged", "version": "v1"}},
    ),
    Row("GET /projects", "/projects", "login", html=True),
    Row("GET /projects/{name}", "/projects/perception", "project", "viewer", "packages:read", html=True),
    Row(
        "POST /projects/{name}/members",
        "/projects/perception/members",
        "csrf",
        body={"form": {"csrf": "forged", "user": "bystander", "role": "viewer"}},
    ),
]


def app_routes(app: Any) -> set[str]:
    """Every "METHOD /path" the app serves (HEAD aside), descending into included routers and mounts."""
    out: set[str] = set()

    def visit(route: Any) -> None:
        if hasattr(route, "effective_route_contexts"):  # FastAPI's lazily included routers
            for ctx in route.effective_route_contexts():
                visit(ctx)
            return
        path = getattr(route, "path", None)
        if path is None:
            return
        methods = getattr(route, "methods", None) or {"GET"}  # a mount (static files) serves GET
        out.update(f"{m} {path}" for m in methods if m != "HEAD")

    for r in app.routes:
        visit(r)
    return out


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_every_route_has_a_matrix_row(registry: Registry) -> None:
    served = app_routes(registry.app)
    rows = {r.route for r in ROWS}
    assert len(rows) == len(ROWS), "a route has two rows"
    assert served - rows == set(), f"routes without an authorization matrix row: {sorted(served - rows)}"
    assert rows - served == set(), f"rows for routes the app does not serve: {sorted(rows - served)}"
    schema_ops = {
        f"{m.upper()} {p}" for p, ops in registry.app.openapi()["paths"].items() for m in ops if m != "parameters"
    }
    assert {op.replace("{path}", "{path:path}").replace("{subject}", "{subject:path}") for op in schema_ops} <= rows


def route_expected(c: Caller | None, row: Row) -> str:
    """'ok', 'unauthenticated', 'forbidden' or 'not_found' from the levels' rules alone."""
    if row.level == "public":
        return "ok"
    if row.level == "signed":
        return "unauthenticated"
    if c is None:
        return "forbidden" if row.route == "POST /logout" else "unauthenticated"
    if row.level == "csrf":
        return "forbidden"
    if row.level == "login":
        return "ok"
    if row.level == "human":
        return "forbidden" if c.scopes is not None else "ok"
    if row.level == "admin":
        return "ok" if c.registry_admin else "forbidden"
    role = c.package_role if row.level == "package" else c.project_role  # data belongs to perception
    if role is None:
        return "not_found"
    if RANK[role] < RANK[row.min_role]:
        return "forbidden"
    if c.scopes is not None and row.scope is not None and row.scope not in c.scopes:
        return "forbidden"
    return "ok"


def _route_setup(reg: Registry, tmp_path: Any) -> tuple[dict[str, str], dict[str, str]]:
    from registry.models import Project
    from registry.models_runs import Experiment, Run
    from toolkit.data.repo import init_repo

    tokens = _tokens(reg, tmp_path)
    admin = reg.admin
    fw = {"name": "fw", "version": "1", "packages": ["perception/detector@v1"]}
    assert admin.post("/api/v1/projects/perception/firmware", json=fw).status_code == 201
    remote = admin.post("/api/v1/projects/perception/remotes", json={"url": str(tmp_path / "no-such-repo.git")})
    assert remote.status_code == 201, remote.text
    reg.app.state.data_repo = init_repo(tmp_path / "data")
    reg.app.state.data_project = "perception"
    with reg.db.transaction() as s:
        project = s.query(Project).filter_by(name="perception").one()
        exp = Experiment(project_id=project.id, name="exp", repo_url="https://git.example/exp.git", created_by="t")
        s.add(exp)
        s.flush()
        run = Run(
            experiment_id=exp.id,
            number=1,
            overrides=[],
            executor="local",
            status="succeeded",
            workdir=str(tmp_path / "run"),
            created_by="t",
            released_as="detector@v1",
        )
        s.add(run)
        s.flush()
        ids = {"run": str(run.id), "remote": str(remote.json()["id"])}
    # The matrix callers with data scopes: robots get data:read where they have packages:read.
    for c in CALLERS:
        if c.scopes is not None:
            project = "other" if c.name == "robot-elsewhere" else "perception"
            body = {"name": f"{c.name}-r", "robot": True, "project": project, "scopes": sorted(c.scopes)}
            tokens[c.name] = admin.post("/api/v1/tokens", json=body).json()["token"]
    return tokens, ids


def _route_call(client: httpx.Client, row: Row, caller: str, ids: dict[str, str]) -> httpx.Response:
    path = row.path.replace("{caller}", caller).replace("{run}", ids["run"]).replace("{remote}", ids["remote"])
    method = row.route.split(" ", 1)[0]
    headers = {"accept": "text/html"} if row.html else {}
    if isinstance(row.body, dict) and "form" in row.body:
        return client.request(method, path, data=row.body["form"], headers=headers)
    if row.body is None:
        return client.request(method, path, headers=headers)
    body = json.loads(json.dumps(row.body).replace("{caller}", caller))
    return client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_route_matrix_every_route_every_caller(registry: Registry, tmp_path: Any) -> None:
    tokens, ids = _route_setup(registry, tmp_path)
    wrong: list[str] = []
    codes = {401: "unauthenticated", 403: "forbidden", 404: "not_found"}
    for c in [None, *CALLERS]:
        name = c.name if c else "anonymous"
        client = registry.client(tokens[name] if c else None)
        for row in ROWS:
            r = _route_call(client, row, name, ids)
            want = route_expected(c, row)
            got = codes.get(r.status_code, "ok")
            if row.missing and want == "ok" and got == "not_found":
                got = "ok"  # allowed, and the target is (deliberately) missing
            if r.status_code >= 500 or got != want:
                wrong.append(f"{name} {row.route}: expected {want}, got {r.status_code} {r.text[:100]}")
    assert not wrong, f"{len(wrong)} wrong:\n" + "\n".join(wrong)
