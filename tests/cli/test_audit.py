"""`pitlane audit list|verify` in embedded mode, including a tampered database."""

from __future__ import annotations

import json
import sqlite3

from typer.testing import CliRunner

from toolkit.cli.main import app
from toolkit.config import get_settings

runner = CliRunner()


def test_audit_list_and_verify_detects_an_edited_row() -> None:
    assert runner.invoke(app, ["access", "project", "create", "perception"]).exit_code == 0
    assert runner.invoke(app, ["access", "user", "create", "mia"]).exit_code == 0
    assert runner.invoke(app, ["access", "grant", "viewer", "-u", "mia", "-p", "perception"]).exit_code == 0
    r = runner.invoke(app, ["audit", "list", "--json"])
    events = json.loads(r.stdout)
    assert [e["action"] for e in events] == ["access.grant", "user.create", "project.create"]
    r = runner.invoke(app, ["audit", "verify"])
    assert r.exit_code == 0 and "3 events verified" in r.stderr

    db = get_settings().home / "registry.db"
    with sqlite3.connect(db) as conn:
        conn.execute('UPDATE audit_events SET after = \'{"role": "admin"}\' WHERE seq = 3')
    r = runner.invoke(app, ["audit", "verify"])
    assert r.exit_code == 1
    assert r.stderr.strip() == "error: audit log broken at event 3: event 3 was modified after it was written"
