"""Issue 22, "a registry you can put on a network": one test (or more) per finding, named test_fNN_*.

Each test failed on the code as the issue found it. The server under test is the
ordinary non-embedded app; tests/conftest.py opts the temporary directories (and
S3) into the allowed storage and remotes, as an admin would opt in a DVC remote.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from registry.models import PackageFile
from registry.services import packages as pkgs
from tests.registry.conftest import Registry, file_entry, publish

SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

PKG = "/api/v1/projects/perception/packages/detector"


def _project(registry: Registry) -> None:
    assert registry.admin.post("/api/v1/projects", json={"name": "perception"}).status_code == 201


def _as(registry: Registry, name: str, role: str) -> httpx.Client:
    return registry.client(registry.user(name, "perception", role))


# --- 1: server files through file URLs ------------------------------------------------------
SERVER_FILES = [
    "/proc/self/environ",
    "file:///etc/passwd",
    "file:///etc/passwd#",
    "file://localhost/etc/passwd",
    "/etc/../etc/passwd",
    "etc/passwd",
    "../../etc/passwd",
    "http://169.254.169.254/latest/meta-data",
]


@SQLITE
def test_f01_publish_refuses_file_locations_outside_allowed_storage(registry: Registry, tmp_path: Path) -> None:
    _project(registry)
    dev = _as(registry, "dev", "developer")
    viewer = _as(registry, "viewer", "viewer")
    link = tmp_path / "innocent.bin"
    link.symlink_to("/etc/passwd")  # inside an allowed directory, pointing out of it
    for i, url in enumerate([*SERVER_FILES, str(link), f"file://{tmp_path}/../../etc/passwd"]):
        r = publish(dev, "perception", "detector", f"v{i}", [file_entry("model.pt", b"x", url)])
        assert r.status_code == 400, (url, r.status_code, r.text)
        download = viewer.get(f"{PKG}/versions/v{i}/files/model.pt")
        assert download.status_code in (401, 404), (url, download.status_code)
        assert b"root:" not in download.content
    inside = tmp_path / "model.pt"
    inside.write_bytes(b"weights")
    assert publish(dev, "perception", "detector", "ok", [file_entry("model.pt", b"weights", str(inside))]).is_success
    assert viewer.get(f"{PKG}/versions/ok/files/model.pt").content == b"weights"


@SQLITE
def test_f01_download_refuses_stored_locations_outside_allowed_storage(registry: Registry, tmp_path: Path) -> None:
    _project(registry)
    blob = tmp_path / "model.pt"
    blob.write_bytes(b"weights")
    assert publish(registry.admin, "perception", "detector", "v1", [file_entry("model.pt", b"x", str(blob))]).is_success
    with registry.db.transaction() as s:  # a row written before the allowlist (or straight into the database)
        s.execute(update(PackageFile).values(url="/etc/passwd"))
    r = registry.admin.get(f"{PKG}/versions/v1/files/model.pt")
    assert r.status_code == 404 and b"root:" not in r.content


@SQLITE
def test_f01_sync_refuses_dvc_remote_outside_allowed_storage(tmp_path: Path, db_url: str) -> None:
    from registry.core.db import Database
    from registry.core.policy import Policy
    from registry.services import access
    from registry.sync import sync_remote
    from tests.registry.test_sync import _remote, _versions
    from tests.release.experiment import copy_experiment
    from toolkit.release.release import release

    db = Database(db_url)
    with db.transaction() as s:
        access.create_project(s, pkgs.system_principal("t"), "perception")
    exp = copy_experiment(tmp_path)
    rid = _remote(db, exp)
    release("detector", "1.0.0", repo=exp.path)
    # The tag's commit names a local DVC remote; this registry's admin allowed only one S3 bucket.
    policy = Policy(storage=("s3://models/",), remotes=(f"file://{tmp_path.resolve()}/",))
    report = sync_remote(db, rid, tmp_path / "home", policy)
    assert report.versions == [] and len(report.errors) == 1
    assert "outside the storage" in report.errors[0]
    assert _versions(db) == {}
    db.dispose()


def test_f01_policy_canonical_forms() -> None:
    from registry.core.policy import Policy

    policy = Policy(storage=("file:///srv/dvc/", "s3://models/"))
    assert policy.storage_allows("file:///srv/dvc/files/md5/ab/cdef")
    assert policy.storage_allows("/srv/dvc/files/md5/ab/cdef")
    assert policy.storage_allows("s3://models/files/md5/ab/cd")
    for url in (
        "file:///srv/dvc#/../../etc/passwd",
        "/srv/dvc/../../etc/passwd",
        "/srv/dvcx/secret",  # a sibling with the same prefix
        "s3://models-other/x",
        "s3://models/x?versionId=1",
        "file:///srv/dvc/a\nb",
        "file://evil.example/srv/dvc/a",
    ):
        assert not policy.storage_allows(url), url


# --- 10: arbitrary fetches --------------------------------------------------------------------
@SQLITE
def test_f10_remotes_outside_allowed_remotes_are_refused(registry: Registry) -> None:
    _project(registry)
    for url in ("/srv/git/secret.git", "file:///etc", "git://internal.example/x", "file:///tmp/../etc"):
        r = registry.admin.post("/api/v1/projects/perception/remotes", json={"url": url})
        assert r.status_code == 400, (url, r.text)
    r = registry.admin.post("/api/v1/projects/perception/remotes", json={"url": "https://git.example/acme/exp.git"})
    assert r.status_code == 201, r.text


@SQLITE
def test_f10_experiment_repos_outside_allowed_remotes_are_refused(registry: Registry) -> None:
    _project(registry)
    for url in ("/srv/git/secret.git", "file:///root/.ssh", "--upload-pack=touch /tmp/pwned"):
        body = {"project": "perception", "name": "exp", "repo_url": url}
        r = registry.admin.post("/api/v1/experiments", json=body)
        assert r.status_code == 400, (url, r.text)


def test_f10_dataset_repos_named_by_tags_are_fetched_only_when_allowed(tmp_path: Path) -> None:
    import pygit2

    from registry.core.policy import Policy
    from registry.sync import _Context

    data = tmp_path / "data.git"
    pygit2.init_repository(str(data), bare=True)
    repo = pygit2.init_repository(str(tmp_path / "mirror.git"), bare=True)
    home = tmp_path / "home"
    ctx = _Context(repo, "perception", home, Policy(remotes=("https://",)))
    assert ctx.dataset_sidecars({"repo": str(data), "commit": "0" * 40, "path": "slices"}) == []
    assert not (home / "mirrors").exists() or not any((home / "mirrors").glob("data-*.git"))


# --- 12: file paths a client would write ----------------------------------------------------
@SQLITE
def test_f12_server_refuses_colliding_file_paths(registry: Registry) -> None:
    _project(registry)
    files = [file_entry("a", b"1"), file_entry("a/b", b"2")]
    r = publish(registry.admin, "perception", "detector", "v1", files)
    assert r.status_code == 400 and "collides" in r.text
    for bad in ("a\\..\\b", "a/\x01b"):
        assert publish(registry.admin, "perception", "detector", "v2", [file_entry(bad, b"1")]).status_code == 400


def test_f12_client_refuses_unsafe_server_paths(tmp_path: Path) -> None:
    from fastapi import FastAPI

    from toolkit.client import RegistryClient
    from toolkit.errors import IntegrityError

    evil = FastAPI()
    victim = tmp_path / "victim.txt"

    @evil.get("/api/v1/resolve")
    def resolve() -> dict[str, object]:
        return {
            "project": "p",
            "package": "n",
            "version": "v1",
            "content_hash": "0" * 64,
            "commit": None,
            "tag": None,
            "manifest": {},
            "created_at": "2026-12-07T00:00:00Z",
            "created_by": "x",
            "deprecated": False,
            "deprecated_at": None,
            "deprecated_by": None,
            "deprecation_reason": None,
            "files": [{"path": "../victim.txt", "md5": "0" * 32, "size": 1, "url": ""}],
        }

    @evil.get("/api/v1/projects/{p}/packages/{n}/versions/{v}/files/{path:path}")
    def file(p: str, n: str, v: str, path: str) -> bytes:
        return b"x"

    for bad in ("../victim.txt", str(victim), "a//b", "./a"):
        with pytest.raises(IntegrityError):
            from toolkit.client import safe_relpath

            safe_relpath(bad)
    with RegistryClient(app=evil) as client, pytest.raises(IntegrityError, match="unsafe file path"):
        client.pull("p/n@v1", tmp_path / "out" / "pkg")
    assert not victim.exists()
    assert not (tmp_path / "out" / "pkg").exists()


# --- 2: versions shadowing channels -----------------------------------------------------------
@SQLITE
def test_f02_a_version_cannot_take_a_protected_or_existing_channel_name(registry: Registry) -> None:
    _project(registry)
    dev = _as(registry, "dev", "developer")
    maint = _as(registry, "maint", "maintainer")
    assert publish(dev, "perception", "detector", "v1").status_code == 201
    assert maint.put(f"{PKG}/channels/production", json={"version": "v1"}).status_code == 200
    assert dev.put(f"{PKG}/channels/staging", json={"version": "v1"}).status_code == 200
    for name in ("production", "staging"):
        r = publish(dev, "perception", "detector", name)
        assert r.status_code == 409, (name, r.text)
    # A protected channel is never shadowed, even before it points anywhere.
    assert publish(dev, "perception", "other", "production").status_code == 409
    assert dev.get("/api/v1/resolve", params={"ref": "perception/detector@production"}).json()["version"] == "v1"
    # ... and a channel cannot take a version's name.
    assert dev.put(f"{PKG}/channels/v1", json={"version": "v1"}).status_code == 409
    r = registry.admin.put("/api/v1/projects/perception/protected-channels", json={"channels": ["production", "v1"]})
    assert r.status_code == 409


@SQLITE
def test_f02_old_rows_never_shadow_a_protected_channel(registry: Registry) -> None:
    from registry.models import PackageVersion

    _project(registry)
    maint = _as(registry, "maint", "maintainer")
    for v in ("v1", "v2"):
        assert publish(maint, "perception", "detector", v).status_code == 201
    assert maint.put(f"{PKG}/channels/production", json={"version": "v1"}).status_code == 200
    with registry.db.transaction() as s:  # a collision written before names were checked
        s.execute(update(PackageVersion).where(PackageVersion.version == "v2").values(version="production"))
    for ref in ("perception/detector@production", "detector@production"):
        assert maint.get("/api/v1/resolve", params={"ref": ref}).json()["version"] == "v1"
    with registry.db.transaction(write=False) as s:
        assert pkgs.resolve(s, pkgs.system_principal(), "detector@production").version == "v1"


# --- 7: names ending in a newline ------------------------------------------------------------
@SQLITE
def test_f07_names_ending_in_a_newline_are_refused(registry: Registry) -> None:
    admin = registry.admin
    assert admin.post("/api/v1/projects", json={"name": "perception\n"}).status_code == 400
    _project(registry)
    assert admin.post("/api/v1/users", json={"name": "bob\n"}).status_code == 400
    assert publish(admin, "perception", "detector%0A", "v1").status_code == 400
    assert publish(admin, "perception", "detector", "v1\n").status_code == 400
    assert publish(admin, "perception", "detector", "v1").status_code == 201
    assert admin.put(f"{PKG}/channels/production%0A", json={"version": "v1"}).status_code == 400
    files = [{"path": "m.pt", "md5": "0" * 32 + "\n", "size": 1, "url": ""}]
    assert publish(admin, "perception", "detector", "v3", files).status_code in (400, 422)


def test_f07_release_grammar_and_refs_use_full_matches() -> None:
    from toolkit.release.grammar import parse_tag

    assert parse_tag("detector@v1.0.0\n") is None
    assert parse_tag("detector#production#1\n") is None
    with pytest.raises(Exception, match="invalid"):
        pkgs.check_version("v1\n")


# --- 5: stored XSS through URL fields --------------------------------------------------------
@SQLITE
def test_f05_url_fields_take_only_http_urls_and_pages_never_link_other_schemes(registry: Registry) -> None:
    from registry.models_links import Evaluation

    _project(registry)
    dev = _as(registry, "dev", "developer")
    assert publish(dev, "perception", "detector", "v1").status_code == 201
    evaluation = {"suite": "sim", "passed": 1, "failed": 0, "total": 1, "verdict": "pass"}
    for url in ("javascript:alert(document.cookie)", "JaVaScRiPt:alert(1)", "data:text/html,x", " javascript:x", "//x"):
        r = dev.post(f"{PKG}/versions/v1/evaluations", json={**evaluation, "ci_run_url": url})
        assert r.status_code == 422, (url, r.text)
    fw = {"name": "fw", "version": "1", "packages": ["perception/detector@v1"], "ci_run_url": "javascript:x"}
    assert dev.post("/api/v1/projects/perception/firmware", json=fw).status_code == 422
    ok = dev.post(f"{PKG}/versions/v1/evaluations", json={**evaluation, "ci_run_url": "https://ci.example/1"})
    assert ok.status_code == 201
    with registry.db.transaction() as s:  # a row stored before the check
        s.execute(update(Evaluation).values(ci_run_url="javascript:alert(1)"))
    page = dev.get("/trace", params={"subject": "package:perception/detector@v1"}, headers={"accept": "text/html"})
    assert page.status_code == 200, page.text[:300]
    assert "javascript:" not in page.text.lower()


# --- 3: token escalation ---------------------------------------------------------------------
@SQLITE
def test_f03_a_new_token_never_exceeds_the_token_that_creates_it(registry: Registry) -> None:
    _project(registry)
    padmin = registry.client(registry.user("padmin", "perception", "admin"))
    r = padmin.post("/api/v1/tokens", json={"name": "ro", "scopes": ["packages:read"], "expires_days": 2})
    assert r.status_code == 201, r.text
    ro = registry.client(r.json()["token"])
    # A read-only token minting an unscoped (or wider) token:
    for body in ({"name": "wide"}, {"name": "w2", "scopes": ["packages:read", "packages:write"]}):
        r = ro.post("/api/v1/tokens", json=body)
        if r.status_code == 201:  # inherits exactly the creator's scopes and expiry
            assert r.json()["scopes"] == ["packages:read"], r.json()
            assert r.json()["expires_at"] is not None
            assert publish(registry.client(r.json()["token"]), "perception", "detector", "v9").status_code == 403
        else:
            assert r.status_code == 403, r.text
    # A robot may get no scope beyond the creator's token (nor its role).
    robot = {"name": "ci", "robot": True, "project": "perception", "scopes": ["packages:write"]}
    assert ro.post("/api/v1/tokens", json=robot).status_code in (403, 404)
    dev = registry.client(registry.user("dev", "perception", "developer"))
    assert dev.post("/api/v1/tokens", json=robot).status_code == 403
    # An expiring token cannot mint one that outlives it.
    r = ro.post("/api/v1/tokens", json={"name": "long", "scopes": ["packages:read"], "expires_days": 3000})
    own = next(t for t in ro.get("/api/v1/tokens").json() if t["name"] == "ro")
    assert r.status_code == 201 and r.json()["expires_at"] == own["expires_at"]


@SQLITE
def test_f03_admin_actions_need_an_admin_scoped_token(registry: Registry) -> None:
    _project(registry)
    admin = registry.admin
    r = admin.post("/api/v1/tokens", json={"name": "admin-ro", "scopes": ["packages:read"]})
    ro = registry.client(r.json()["token"])
    assert ro.post("/api/v1/users", json={"name": "mallory", "is_admin": True}).status_code == 403
    assert ro.get("/api/v1/audit").status_code == 403
    assert ro.get("/api/v1/users").status_code == 403
    assert ro.post("/api/v1/projects", json={"name": "x"}).status_code == 403
    assert ro.post("/api/v1/tokens", json={"name": "as-bob", "user": "admin"}).status_code in (201, 403)
    registry.user("bob")
    assert ro.post("/api/v1/tokens", json={"name": "as-bob", "user": "bob"}).status_code == 403
    r = admin.post("/api/v1/tokens", json={"name": "auditor", "scopes": ["audit:read"]})
    assert registry.client(r.json()["token"]).get("/api/v1/audit").status_code == 200
    r = admin.post("/api/v1/tokens", json={"name": "root2", "scopes": ["admin"]})
    assert registry.client(r.json()["token"]).post("/api/v1/users", json={"name": "carol"}).status_code == 201


# --- 4: project tokens after their owner leaves ---------------------------------------------
@SQLITE
def test_f04_membership_is_rechecked_on_every_request(registry: Registry) -> None:
    _project(registry)
    admin = registry.admin
    assert admin.post("/api/v1/projects", json={"name": "planning"}).status_code == 201
    assert publish(admin, "perception", "detector", "v1").status_code == 201
    assert publish(admin, "planning", "planner", "v1").status_code == 201
    assert admin.post(f"{PKG}/grants", json={"project": "planning"}).status_code == 200  # shared with planning
    registry.user("leaver", "perception", "developer")
    admin.put("/api/v1/projects/planning/members/leaver", json={"role": "viewer"})
    user_client = registry.client(registry.user("leaver"))
    tokens = {}
    for project in ("perception", "planning"):
        r = user_client.post("/api/v1/tokens", json={"name": f"t-{project}", "project": project})
        assert r.status_code == 201, r.text
        tokens[project] = registry.client(r.json()["token"])
    assert [p["name"] for p in tokens["perception"].get("/api/v1/packages").json()] == ["detector"]
    assert admin.delete("/api/v1/projects/perception/members/leaver").status_code == 204
    assert admin.delete("/api/v1/projects/planning/members/leaver").status_code == 204
    for client in tokens.values():
        assert client.get("/api/v1/packages").json() == []
        assert client.get("/api/v1/projects").json() == []
        assert client.get(f"{PKG}").status_code == 404
        assert client.get("/api/v1/resolve", params={"ref": "perception/detector@v1"}).status_code == 404


# --- 11: data belongs to a project -----------------------------------------------------------
@SQLITE
def test_f11_bags_datasets_and_catalogue_are_project_scoped(registry: Registry, tmp_path: Path) -> None:
    from toolkit.data.repo import init_repo

    _project(registry)
    admin = registry.admin
    assert admin.post("/api/v1/projects", json={"name": "other"}).status_code == 201
    repo = init_repo(tmp_path / "data")
    registry.app.state.data_repo = repo
    member = registry.client(registry.user("vera", "perception", "viewer"))
    outsider = registry.client(registry.user("otto", "other", "admin"))

    def robot(name: str, project: str, scopes: list[str]) -> httpx.Client:
        body = {"name": name, "robot": True, "project": project, "scopes": scopes}
        r = admin.post("/api/v1/tokens", json=body)
        assert r.status_code == 201, r.text
        return registry.client(r.json()["token"])

    paths = ("/api/v1/bags", "/api/v1/datasets", "/data", "/datasets")
    # No project owns the catalogue yet: only registry admins see it.
    for path in paths[:1]:
        assert admin.get(path).status_code == 200
        assert member.get(path).status_code == 404
    registry.app.state.data_project = "perception"
    narrow = robot("ci-narrow", "perception", ["packages:read"])
    reader = robot("ci-data", "perception", ["data:read"])
    elsewhere = robot("ci-else", "other", ["data:read", "packages:read"])
    for path in paths:
        assert outsider.get(path).status_code == 404, path
        assert elsewhere.get(path).status_code == 404, path
        assert narrow.get(path).status_code == 403, path
    assert member.get("/api/v1/bags").json() == []
    assert reader.get("/api/v1/bags").json() == []
    repo.close()


# --- 6: request bodies --------------------------------------------------------------------------
@SQLITE
def test_f06_declared_oversize_bodies_are_refused_before_reading(registry: Registry) -> None:
    import socket

    from tests.services.browser import serve_app

    with serve_app(registry.app) as url:
        host, port = url.removeprefix("http://").split(":")
        for path in ("/api/v1/webhooks/github", "/api/v1/projects", "/login"):
            with socket.create_connection((host, int(port)), timeout=10) as sock:
                head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                sock.sendall(f"{head}Content-Length: {120 * 1024 * 1024}\r\n\r\n".encode())
                sock.settimeout(5)  # the server answers without waiting for 120 MB that never come
                answer = sock.recv(4096).decode(errors="replace")
            assert answer.startswith("HTTP/1.1 413"), (path, answer[:200])


@SQLITE
def test_f06_streamed_bodies_are_cut_at_the_limit_with_per_route_overrides(registry: Registry) -> None:
    _project(registry)
    admin = registry.admin

    def chunks(total: int) -> object:
        for _ in range(total // 65536):
            yield b" " * 65536

    # No Content-Length (chunked): counted while it streams.
    r = admin.post("/api/v1/tokens", content=chunks(4 * 1024 * 1024), headers={"content-type": "application/json"})
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "too_large"
    r = registry.client().post("/api/v1/webhooks/github", content=b"x" * (26 * 1024 * 1024))
    assert r.status_code == 413
    # Publishing has its own, larger limit: a 2 MB version is fine, the same bytes elsewhere are not.
    files = [file_entry(f"shards/{i:05d}-{'x' * 200}.bin", str(i).encode()) for i in range(8000)]
    r = publish(admin, "perception", "detector", "v1", files)
    assert r.status_code == 201, r.text[:200]
    assert admin.post("/api/v1/projects", json={"name": "p", "description": "x" * 2_000_000}).status_code == 413


@SQLITE
def test_f06_list_lengths_are_limited(registry: Registry) -> None:
    _project(registry)
    files = [file_entry(f"f{i}", b"") for i in range(20_001)]
    r = publish(registry.admin, "perception", "detector", "v1", files)
    assert r.status_code == 422 and "files" in r.json()["error"]["message"]
    scopes = ["packages:read"] * 33
    assert registry.admin.post("/api/v1/tokens", json={"name": "t", "scopes": scopes}).status_code == 422


# --- 15: browser security headers ------------------------------------------------------------
@SQLITE
def test_f15_every_response_carries_browser_security_headers(registry: Registry) -> None:
    for path, headers in (
        ("/api/v1/health", {}),
        ("/login", {"accept": "text/html"}),
        ("/packages", {"accept": "text/html"}),
        ("/static/pitlane.css", {}),
        ("/api/v1/nope", {}),
    ):
        r = registry.client().get(path, headers=headers)
        csp = r.headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, (path, csp)
        assert "unsafe-inline" not in csp, path
        assert r.headers.get("x-frame-options") == "DENY", path
        assert r.headers.get("x-content-type-options") == "nosniff", path
        assert r.headers.get("referrer-policy") == "same-origin", path


@pytest.mark.browser
@SQLITE
def test_f15_pages_pass_the_strict_csp_in_chromium(registry: Registry, page: object, tmp_path: Path) -> None:
    from tests.services.browser import serve_app
    from toolkit.data.repo import init_repo

    _project(registry)
    admin = registry.admin
    blob = tmp_path / "model.pt"
    blob.write_bytes(b"weights")
    assert publish(admin, "perception", "detector", "v1", [file_entry("model.pt", b"weights", str(blob))]).is_success
    evaluation = {
        "suite": "sim",
        "passed": 1,
        "failed": 0,
        "total": 1,
        "verdict": "pass",
        "ci_run_url": "https://x.y/1",
    }
    assert admin.post(f"{PKG}/versions/v1/evaluations", json=evaluation).status_code == 201
    registry.app.state.data_repo = init_repo(tmp_path / "data")
    problems: list[str] = []
    pg: object = page
    pg.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)  # type: ignore[attr-defined]
    pg.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))  # type: ignore[attr-defined]
    pg.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)  # type: ignore[attr-defined]
    with serve_app(registry.app) as url:
        pg.goto(f"{url}/login")  # type: ignore[attr-defined]
        pg.fill("input[name=token]", registry.admin_token)  # type: ignore[attr-defined]
        pg.click("button[type=submit]")  # type: ignore[attr-defined]
        pg.wait_for_url(f"{url}/packages")  # type: ignore[attr-defined]
        for path in (
            "/packages",
            "/packages/perception/detector",
            "/projects",
            "/projects/perception",
            "/trace?subject=package:perception/detector@v1",
            "/data",
            "/datasets",
            "/experiments",
        ):
            response = pg.goto(f"{url}{path}")  # type: ignore[attr-defined]
            assert response is not None and response.status == 200, (path, response and response.status)
            pg.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
    assert problems == []


# --- 8: browser sessions and CSRF -------------------------------------------------------------
@SQLITE
def test_f08_cookie_authenticated_api_writes_need_the_csrf_token(registry: Registry) -> None:
    from registry.core.security import csrf_token

    browser = registry.client()
    r = browser.post("/login", data={"token": registry.admin_token}, follow_redirects=False)
    assert r.status_code == 303
    cookie = browser.cookies.get("pitlane_session")
    assert cookie
    r = browser.post("/api/v1/tokens", json={"name": "stolen"})
    assert r.status_code == 403 and "CSRF" in r.text
    r = browser.post("/api/v1/projects", json={"name": "forged"})
    assert r.status_code == 403
    r = browser.post("/api/v1/tokens", json={"name": "mine"}, headers={"X-CSRF-Token": csrf_token(cookie)})
    assert r.status_code == 201, r.text
    assert browser.get("/api/v1/me").status_code == 200  # reads need no CSRF token


@SQLITE
def test_f08_the_cookie_holds_a_session_id_that_logout_revokes(registry: Registry) -> None:
    from registry.core.security import csrf_token

    browser = registry.client()
    r = browser.post("/login", data={"token": registry.admin_token}, follow_redirects=False)
    cookie = r.cookies.get("pitlane_session")
    assert cookie and registry.admin_token not in r.headers["set-cookie"]
    assert "secure" not in r.headers["set-cookie"].lower()  # plain http in this test
    stolen = registry.client()
    stolen.cookies.set("pitlane_session", cookie)
    assert stolen.get("/api/v1/me").status_code == 200
    r = browser.post("/logout", data={"csrf": csrf_token(cookie)}, follow_redirects=False)
    assert r.status_code == 303
    assert stolen.get("/api/v1/me").status_code == 401  # a copy of the cookie is dead too
    assert registry.client(registry.admin_token).get("/api/v1/me").status_code == 200  # the token is not


@SQLITE
def test_f08_secure_cookie_over_tls_and_behind_a_trusted_proxy(registry: Registry) -> None:
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    from toolkit.client import InProcessTransport

    tls = httpx.Client(transport=InProcessTransport(registry.app), base_url="https://registry.test")
    r = tls.post("/login", data={"token": registry.admin_token}, follow_redirects=False)
    assert "secure" in r.headers["set-cookie"].lower()
    proxied = ProxyHeadersMiddleware(registry.app, trusted_hosts="*")
    behind = httpx.Client(transport=InProcessTransport(proxied), base_url="http://registry.test")
    r = behind.post(
        "/login", data={"token": registry.admin_token}, headers={"X-Forwarded-Proto": "https"}, follow_redirects=False
    )
    assert "secure" in r.headers["set-cookie"].lower()
    for c in (tls, behind):
        c._transport.close()
        c.close()


# --- 9: what a run started from the web can see --------------------------------------------------
def test_f09_runs_get_a_scrubbed_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    import sys
    import time

    from registry.executors import JobSpec, JobState
    from registry.executors.local import LocalExecutor

    secrets = {
        "PITLANE_DATABASE_URL": "postgresql://registry:hunter2@db/registry",
        "PITLANE_WEBHOOK_SECRET": "whsec",
        "PITLANE_TOKEN": "plt_abc_secret",
        "PITLANE_AUDIT_KEY": "audit-key",
        "SOME_SERVICE_PASSWORD": "pw",
    }
    for k, v in secrets.items():
        monkeypatch.setenv(k, v)
    ex = LocalExecutor(tmp_path / "state")
    code = "import json, os; print(json.dumps(dict(os.environ)))"
    job = ex.submit(JobSpec(1, tmp_path / "w", [sys.executable, "-c", code], {"PITLANE_RUN_ID": "1"}))
    deadline = time.monotonic() + 60
    while ex.status(job).state is not JobState.succeeded:
        assert time.monotonic() < deadline, ex.status(job)
        time.sleep(0.2)
    env = json.loads(ex.logs(job).strip().splitlines()[-1])
    assert env["PITLANE_RUN_ID"] == "1" and env["PATH"]
    leaked = {k for k in env if k in secrets or any(v in str(env[k]) for v in secrets.values())}
    assert leaked == set()


@SQLITE
def test_f09_user_git_arguments_come_after_a_double_dash(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from registry.services import runs
    from toolkit.errors import UserError

    _project(registry)
    repo = tmp_path / "exp.git"
    repo.mkdir()
    body = {"project": "perception", "name": "exp", "repo_url": str(repo), "ref": "main"}
    assert registry.admin.post("/api/v1/experiments", json=body).status_code == 201
    calls: list[list[str]] = []

    def fake_git(args: list[str], cwd: object = None) -> str:
        calls.append(args)
        raise UserError("stop here")

    monkeypatch.setattr(runs, "_git", fake_git)
    assert registry.admin.post("/api/v1/experiments/perception/exp/runs", json={}).status_code == 400
    clone = calls[0]
    assert clone[0] == "clone" and clone.index("--") < clone.index(str(repo))
    bad = {**body, "name": "exp2", "ref": "--upload-pack=touch /tmp/x"}
    assert registry.admin.post("/api/v1/experiments", json=bad).status_code == 400


# --- 13: a keyed audit chain ----------------------------------------------------------------
def _rechain_unkeyed(registry: Registry) -> None:
    """What someone with write access to the database (but not the key) can do: recompute every hash."""
    import hashlib
    import json

    from sqlalchemy import select

    from registry.models import AuditEvent, AuditHead
    from registry.services.audit import GENESIS, _canonical_time

    with registry.db.transaction() as s:
        prev = GENESIS
        for ev in s.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars():
            if ev.action == "project.create":
                ev.actor = "someone-else"
            doc = {"seq": ev.seq, "time": _canonical_time(ev.time), "actor": ev.actor, "action": ev.action,
                   "target": ev.target, "before": ev.before, "after": ev.after, "prev_hash": prev}  # fmt: skip
            ev.prev_hash = prev
            ev.hash = hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
            prev = ev.hash
        head = s.get(AuditHead, 1)
        assert head is not None
        head.hash = prev


@SQLITE
def test_f13_a_rebuilt_chain_without_the_key_fails_verification(registry: Registry) -> None:
    _project(registry)
    assert publish(registry.admin, "perception", "detector", "v1").status_code == 201
    assert registry.admin.get("/api/v1/audit/verify").json()["ok"] is True
    _rechain_unkeyed(registry)
    report = registry.admin.get("/api/v1/audit/verify").json()
    assert report["ok"] is False and report["first_bad_seq"] == 1, report


@SQLITE
def test_f13_signed_checkpoints_catch_a_log_cut_back(registry: Registry) -> None:
    from sqlalchemy import delete

    from registry.models import AuditEvent, AuditHead

    _project(registry)
    admin = registry.admin
    base = admin.get("/api/v1/audit/checkpoint").json()
    assert publish(admin, "perception", "detector", "v1").status_code == 201
    cp = admin.get("/api/v1/audit/checkpoint").json()
    assert cp["seq"] > base["seq"]
    assert admin.post("/api/v1/audit/verify", json={"checkpoints": [base, cp]}).json()["ok"] is True
    forged = {**cp, "hash": "f" * 64}
    assert admin.post("/api/v1/audit/verify", json={"checkpoints": [forged]}).json()["ok"] is False
    with registry.db.transaction() as s:  # cut the log back to the earlier head: still a valid chain
        s.execute(delete(AuditEvent).where(AuditEvent.seq > base["seq"]))
        head = s.get(AuditHead, 1)
        assert head is not None
        head.seq, head.hash = base["seq"], base["hash"]
    assert admin.get("/api/v1/audit/verify").json()["ok"] is True  # the chain alone cannot tell
    report = admin.post("/api/v1/audit/verify", json={"checkpoints": [cp]}).json()
    assert report["ok"] is False and "cut back" in report["reason"]


def test_f13_the_audit_key_lives_outside_the_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from registry.services import audit

    home = tmp_path / "home"
    monkeypatch.setenv("PITLANE_HOME", str(home))
    monkeypatch.delenv("PITLANE_AUDIT_KEY", raising=False)
    key = audit.audit_key()
    path = home / "audit.key"
    assert path.read_bytes().strip() == key and len(key) == 64
    assert (path.stat().st_mode & 0o777) == 0o600
    monkeypatch.setenv("PITLANE_AUDIT_KEY", "from-a-secret-store")
    assert audit.audit_key() == b"from-a-secret-store"


def test_f13_sync_events_say_the_tagger_is_unverified() -> None:
    from registry.sync import _principal

    class Tag:
        tagger_email = "ceo@example.com"
        tagger_name = "CEO"

    assert _principal(Tag()).name == "git-unverified:ceo@example.com"  # type: ignore[arg-type]


# --- 14: smaller leaks ----------------------------------------------------------------------
@SQLITE
def test_f14_lineage_answers_other_projects_subjects_like_missing_ones(registry: Registry) -> None:
    _project(registry)
    admin = registry.admin
    assert admin.post("/api/v1/projects", json={"name": "other"}).status_code == 201
    assert publish(admin, "perception", "detector", "v1").status_code == 201
    fw = {"name": "adas-fw", "version": "1", "packages": ["perception/detector@v1"]}
    assert admin.post("/api/v1/projects/perception/firmware", json=fw).status_code == 201
    deployment = {"vehicle": "car-7", "firmware": "adas-fw@1", "deployed_at": "2026-12-01T00:00:00+00:00"}
    assert admin.post("/api/v1/deployments", json=deployment).status_code == 201
    outsider = registry.client(registry.user("otto", "other", "admin"))
    for real, missing in (("vehicle:car-7", "vehicle:car-8"), ("firmware:adas-fw@1", "firmware:adas-fw@2")):
        a = outsider.get(f"/api/v1/lineage/{real}")
        b = outsider.get(f"/api/v1/lineage/{missing}")
        assert a.status_code == b.status_code == 404, (real, a.status_code, b.status_code)
        assert a.json()["error"]["message"].replace("car-7", "X").replace("@1", "@X") == b.json()["error"][
            "message"
        ].replace("car-8", "X").replace("@2", "@X")


@SQLITE
def test_f14_firmware_names_are_unique_per_project_only(registry: Registry) -> None:
    _project(registry)
    admin = registry.admin
    assert admin.post("/api/v1/projects", json={"name": "other"}).status_code == 201
    assert publish(admin, "perception", "detector", "v1").status_code == 201
    assert publish(admin, "other", "planner", "v1").status_code == 201
    fw = {"name": "adas-fw", "version": "1", "packages": ["perception/detector@v1"]}
    assert admin.post("/api/v1/projects/perception/firmware", json=fw).status_code == 201
    otto = registry.client(registry.user("otto", "other", "admin"))
    mine = {**fw, "packages": ["other/planner@v1"]}
    # Otto learns nothing about perception's firmware names: his own image of that name is simply created.
    assert otto.post("/api/v1/projects/other/firmware", json=mine).status_code == 201
    assert otto.get("/api/v1/firmware/adas-fw/1").json()["project"] == "other"
    assert admin.post("/api/v1/projects/perception/firmware", json=fw).status_code == 409  # same project: immutable
    ambiguous = {"vehicle": "car-1", "firmware": "adas-fw@1", "deployed_at": "2026-12-01T00:00:00+00:00"}
    assert admin.post("/api/v1/deployments", json=ambiguous).status_code == 400
    exact = {**ambiguous, "firmware": "other/adas-fw@1"}
    assert admin.post("/api/v1/deployments", json=exact).status_code == 201
