"""GitHub push webhook over real HTTP (uvicorn): HMAC-SHA256 verified, then the pushed repo is synced."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from registry.api.routes.webhooks import signature
from registry.core.config import Settings
from registry.main import create_app
from registry.services.tokens import bootstrap_admin
from tests.release.experiment import copy_experiment
from tests.services.browser import serve_app
from toolkit.release.release import release

SECRET = "webhook-secret-for-tests"


def _push_payload(remote: Path) -> bytes:
    # The fields GitHub sends that we use; the clone URL spelled differently from the registered one.
    return json.dumps(
        {
            "ref": "refs/tags/detector@v1.0.0",
            "repository": {"full_name": "acme/exp", "clone_url": f"file://{remote}", "html_url": "https://example/x"},
        }
    ).encode()


def test_webhook_verifies_signature_then_syncs(tmp_path: Path) -> None:
    exp = copy_experiment(tmp_path)
    release("detector", "1.0.0", repo=exp.path, channel="staging")
    app = create_app(Settings(webhook_secret=SECRET, database_url=f"sqlite:///{tmp_path / 'r.db'}"))
    with app.state.db.transaction() as s:
        token = bootstrap_admin(s).token
    with serve_app(app) as url:
        api = httpx.Client(base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {token}"})
        anon = httpx.Client(base_url=f"{url}/api/v1")
        assert api.post("/projects", json={"name": "perception"}).status_code == 201
        assert api.post("/projects/perception/remotes", json={"url": str(exp.remote)}).status_code == 201
        dup = api.post("/projects/perception/remotes", json={"url": f"file://{exp.remote}/"})
        assert dup.status_code == 409
        body = _push_payload(exp.remote)
        push = {"X-GitHub-Event": "push", "Content-Type": "application/json"}
        for headers in [
            push,
            {**push, "X-Hub-Signature-256": "sha256=" + "0" * 64},
            {**push, "X-Hub-Signature-256": signature("wrong secret", body)},
        ]:
            r = anon.post("/webhooks/github", content=body, headers=headers)
            assert r.status_code == 401, r.text
            assert r.json()["error"]["code"] == "unauthenticated"
        # Nothing was synced by the rejected calls.
        assert api.get("/packages", params={"project": "perception"}).json() == []
        tampered = body.replace(b"acme", b"evil")
        r = anon.post(
            "/webhooks/github", content=tampered, headers={**push, "X-Hub-Signature-256": signature(SECRET, body)}
        )
        assert r.status_code == 401
        ping = anon.post(
            "/webhooks/github",
            content=b"{}",
            headers={"X-GitHub-Event": "ping", "X-Hub-Signature-256": signature(SECRET, b"{}")},
        )
        assert ping.status_code == 202 and ping.json()["event"] == "ping"
        signed = {**push, "X-Hub-Signature-256": signature(SECRET, body)}
        r = anon.post("/webhooks/github", content=body, headers=signed)
        assert r.status_code == 200, r.text
        (report,) = r.json()["synced"]
        assert report["versions"] == ["perception/detector@v1.0.0"]
        assert report["channels"] == ["detector#staging -> v1.0.0"]
        resolved = api.get("/resolve", params={"ref": "perception/detector@staging"}).json()
        assert resolved["version"] == "v1.0.0"
        tags = api.get(f"/remotes/{report['remote_id']}/tags").json()
        assert {t["name"] for t in tags} == {"detector@v1.0.0", "detector#staging#1"}
        # Redelivery (GitHub retries) is harmless: nothing new.
        again = anon.post("/webhooks/github", content=body, headers=signed)
        assert again.json()["synced"][0]["seen"] == 0
        # A server without a secret accepts no webhook at all.
    bare = create_app(Settings(webhook_secret=None, database_url=f"sqlite:///{tmp_path / 'r2.db'}"))
    with serve_app(bare) as url:
        r = httpx.post(
            f"{url}/api/v1/webhooks/github",
            content=body,
            headers={**push, "X-Hub-Signature-256": signature(SECRET, body)},
        )
        assert r.status_code == 401 and "not configured" in r.json()["error"]["message"]
