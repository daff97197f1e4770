"""`pitlane token`, `pitlane login` and `pitlane serve` against a real uvicorn server."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import httpx
import pytest
from typer.testing import CliRunner

from registry.main import create_app
from registry.services.tokens import bootstrap_admin
from tests.services.browser import serve_app
from toolkit.cli.main import app
from toolkit.config import get_settings

runner = CliRunner()


def test_token_create_list_revoke_embedded() -> None:
    r = runner.invoke(app, ["token", "create", "laptop", "--json"])
    assert r.exit_code == 0, r.output
    new = json.loads(r.stdout)
    assert new["token"].startswith("plt_") and new["name"] == "laptop"
    listed = json.loads(runner.invoke(app, ["token", "list", "--json"]).stdout)
    assert [t["prefix"] for t in listed] == [new["prefix"]] and "token" not in listed[0]
    assert runner.invoke(app, ["token", "revoke", new["prefix"]]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["token", "list", "--json"]).stdout)
    assert listed[0]["revoked_at"] is not None
    r = runner.invoke(app, ["token", "create", "ci", "--robot", "--project", "nowhere", "--scope", "packages:read"])
    assert r.exit_code == 3


def test_login_stores_private_credentials_and_targets_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    server_db = get_settings().home / "server.db"
    registry = create_app(database_url=f"sqlite:///{server_db}")
    with registry.state.db.transaction() as s:
        token = bootstrap_admin(s).token
    with serve_app(registry) as url:
        r = runner.invoke(app, ["login", url, "--token", "plt_000000000000_bad"])
        assert r.exit_code == 4 and r.stderr.strip() == "error: invalid token"
        r = runner.invoke(app, ["login", url, "--token", token])
        assert r.exit_code == 0, r.output
        creds = get_settings().home / "credentials"
        assert stat.S_IMODE(os.stat(creds).st_mode) == 0o600
        assert json.loads(creds.read_text()) == {"url": url, "token": token}
        # Later commands go to the server as "admin", not to the embedded database.
        assert runner.invoke(app, ["access", "project", "create", "remote-only"]).exit_code == 0
        me = json.loads(runner.invoke(app, ["access", "list", "--json"]).stdout)
        assert me["name"] == "admin"
        names = [
            p["name"] for p in httpx.get(f"{url}/api/v1/projects", headers={"Authorization": f"Bearer {token}"}).json()
        ]
        assert names == ["remote-only"]
        monkeypatch.setenv("PITLANE_TOKEN", "plt_000000000000_revoked")
        r = runner.invoke(app, ["package", "list"])
        assert r.exit_code == 4 and r.stderr.startswith("error: ")
    r = runner.invoke(app, ["package", "list"])  # server gone: one line, no traceback
    assert r.exit_code == 1 and "cannot reach the registry" in r.stderr


def test_serve_prints_a_bootstrap_token_once() -> None:
    from tests.services import free_port, wait_healthy

    port = free_port()
    cmd = [sys.executable, "-c", "from toolkit.cli.main import main; main()", "serve", "--port", str(port)]
    token = ""
    for attempt in range(2):
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # generous: a loaded 2-core CI machine starts slowly
            if not wait_healthy(f"http://127.0.0.1:{port}/api/v1/health", proc, 180):
                proc.kill()  # before reading its pipes: a live server never closes them
                raise AssertionError(f"pitlane serve did not answer: {proc.communicate()[1][-2000:]}")
        finally:
            proc.terminate()
            out, err = proc.communicate(timeout=30)
        if attempt == 0:
            token = out.strip()
            assert token.startswith("plt_") and "shown once" in err
        else:
            assert out.strip() == "" and "plt_" not in err  # second start: no new token
    db_text = (get_settings().home / "registry.db").read_bytes()
    assert token.encode() not in db_text


def test_bootstrap_token_goes_straight_to_the_database() -> None:
    r = runner.invoke(app, ["token", "create", "--bootstrap", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    saved = get_settings().home / "admin-token"
    assert saved.read_text().strip() == out["token"] and stat.S_IMODE(os.stat(saved).st_mode) == 0o600
    registry = create_app()
    with serve_app(registry) as url:
        me = httpx.get(f"{url}/api/v1/me", headers={"Authorization": f"Bearer {out['token']}"}).json()
    assert me["name"] == "admin" and me["is_admin"] is True
