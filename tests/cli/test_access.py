"""`pitlane access` (projects, users, roles, package shares) in embedded mode."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from toolkit.cli.main import app
from toolkit.client import connect

runner = CliRunner()


def _ok(*args: str) -> str:
    r = runner.invoke(app, list(args))
    assert r.exit_code == 0, r.output
    return r.stdout


def test_projects_users_roles_and_shares() -> None:
    _ok("access", "project", "create", "perception", "-d", "camera models")
    _ok("access", "project", "create", "planning")
    projects = json.loads(_ok("access", "project", "list", "--json"))
    assert [p["name"] for p in projects] == ["perception", "planning"]
    _ok("access", "user", "create", "mia")
    _ok("access", "grant", "maintainer", "--user", "mia", "--project", "perception")
    members = json.loads(_ok("access", "list", "--project", "perception", "--json"))
    assert [(m["user"], m["role"]) for m in members] == [("mia", "maintainer")]

    with connect() as c:
        c.publish("perception", "detector", "v1", [])
    _ok("access", "grant", "viewer", "--package", "perception/detector", "--project", "planning")
    grants = json.loads(_ok("access", "list", "--package", "perception/detector", "--json"))
    assert [(g["project"], g["role"]) for g in grants] == [("planning", "viewer")]
    _ok("access", "revoke", "--package", "perception/detector", "--project", "planning")
    assert json.loads(_ok("access", "list", "--package", "perception/detector", "--json")) == []

    r = runner.invoke(app, ["access", "grant", "overlord", "--user", "mia", "--project", "perception"])
    assert r.exit_code == 1 and "unknown role 'overlord'" in r.stderr
    r = runner.invoke(app, ["access", "grant", "viewer", "--user", "nobody", "--project", "perception"])
    assert r.exit_code == 3 and r.stderr.strip() == "error: user 'nobody' not found"
    r = runner.invoke(app, ["access", "project", "create", "perception"])
    assert r.exit_code == 5 and "already exists" in r.stderr
    _ok("access", "revoke", "--user", "mia", "--project", "perception")
    assert json.loads(_ok("access", "list", "--project", "perception", "--json")) == []
    me = json.loads(_ok("access", "list", "--json"))
    assert me["is_admin"] is True  # embedded mode: the local user is the admin


def test_key_create_add_revoke_list(tmp_path: Path) -> None:
    with connect() as client:
        client.create_project("signing")
    key = tmp_path / "ci.pem"
    created = runner.invoke(app, ["access", "key", "create", str(key)])
    assert created.exit_code == 0, created.output
    assert runner.invoke(app, ["access", "key", "add", "signing", str(key)]).exit_code == 0
    roots = json.loads(runner.invoke(app, ["access", "key", "list", "signing", "--json"]).stdout)
    assert len(roots) == 1 and roots[0]["revoked_at"] is None
    kid = roots[0]["keyid"]
    assert kid in created.output
    revoked = runner.invoke(app, ["access", "key", "revoke", "signing", kid])
    assert revoked.exit_code == 0, revoked.output
    again = runner.invoke(app, ["access", "key", "revoke", "signing", kid])
    assert again.exit_code != 0 and "already revoked" in again.output
