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


def test_audit_checkpoint_then_verify_catches_a_log_cut_back(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Issue 22 finding 13: an exported, signed checkpoint catches a log cut back to an earlier valid head."""
    assert runner.invoke(app, ["access", "project", "create", "perception"]).exit_code == 0
    early = tmp_path / "early.json"
    assert runner.invoke(app, ["audit", "checkpoint", "--out", str(early)]).exit_code == 0
    assert runner.invoke(app, ["access", "user", "create", "mia"]).exit_code == 0
    late = tmp_path / "late.json"
    r = runner.invoke(app, ["audit", "checkpoint"])
    assert r.exit_code == 0
    late.write_text(r.stdout)
    r = runner.invoke(app, ["audit", "verify", "-c", str(early), "-c", str(late)])
    assert r.exit_code == 0 and "2 checkpoint(s)" in r.stderr
    cut = json.loads(early.read_text())
    db = get_settings().home / "registry.db"
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM audit_events WHERE seq > ?", (cut["seq"],))
        conn.execute("UPDATE audit_head SET seq = ?, hash = ?", (cut["seq"], cut["hash"]))
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0  # the chain alone cannot tell
    r = runner.invoke(app, ["audit", "verify", "--checkpoint", str(late)])
    assert r.exit_code == 1 and "cut back" in r.stderr
