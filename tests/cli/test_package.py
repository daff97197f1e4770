"""`pitlane package` in embedded mode (no server, local admin) through Typer's CliRunner."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from typer.testing import CliRunner

from toolkit.cli.main import app
from toolkit.client import connect

runner = CliRunner()


def _publish(tmp_path: Path, version: str, content: bytes, project: str = "perception") -> Path:
    blob = tmp_path / f"model-{project}-{version}.pt"
    blob.write_bytes(content)
    with connect() as client:
        if project not in {p.name for p in client.list_projects()}:
            client.create_project(project)
        client.publish(
            project,
            "detector",
            version,
            [
                {
                    "path": "weights/model.pt",
                    "md5": hashlib.md5(content).hexdigest(),
                    "size": len(content),
                    "url": str(blob),
                },
                {"path": "config.yaml", "md5": hashlib.md5(b"lr: 1").hexdigest(), "size": 5, "url": str(blob) + ".cfg"},
            ],
        )
    Path(str(blob) + ".cfg").write_bytes(b"lr: 1")
    return blob


def test_list_show_channel_pull_deprecate(tmp_path: Path) -> None:
    _publish(tmp_path, "v1.0.0", b"one")
    _publish(tmp_path, "v1.1.0", b"two")
    r = runner.invoke(app, ["package", "list", "--json"])
    assert r.exit_code == 0, r.output
    listed = json.loads(r.stdout)
    assert [(p["project"], p["name"], p["latest"], p["version_count"]) for p in listed] == [
        ("perception", "detector", "v1.1.0", 2)
    ]

    r = runner.invoke(app, ["package", "channel", "detector", "v1.0.0", "production"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["package", "show", "detector", "--json"])
    shown = json.loads(r.stdout)
    assert [v["version"] for v in shown["versions"]] == ["v1.1.0", "v1.0.0"]
    assert shown["versions"][1]["channels"] == ["production"]

    out = tmp_path / "pulled"
    r = runner.invoke(app, ["package", "pull", "detector@production", "-o", str(out), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["version"]["version"] == "v1.0.0"
    assert (out / "weights" / "model.pt").read_bytes() == b"one"
    assert (out / "config.yaml").read_bytes() == b"lr: 1"

    r = runner.invoke(app, ["package", "deprecate", "detector@v1.0.0", "--reason", "superseded"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["package", "show", "perception/detector@v1.0.0", "--json"])
    assert json.loads(r.stdout)["deprecated"] is True
    r = runner.invoke(app, ["package", "channel", "detector", "v1.0.0", "staging"])
    assert r.exit_code == 1 and "deprecated" in r.stderr


def test_pull_is_all_or_nothing_when_a_hash_is_wrong(tmp_path: Path) -> None:
    blob = _publish(tmp_path, "v1", b"original")
    blob.write_bytes(b"tampered")  # the stored bytes no longer match the recorded md5
    out = tmp_path / "out"
    r = runner.invoke(app, ["package", "pull", "detector@v1", "-o", str(out)])
    assert r.exit_code == 1
    assert r.stderr.startswith("error: weights/model.pt: downloaded bytes do not match")
    assert "Traceback" not in r.output
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.partial")] == []


def test_errors_are_one_line_with_exit_codes(tmp_path: Path) -> None:
    r = runner.invoke(app, ["package", "show", "ghost@v1"])
    assert r.exit_code == 3 and r.stderr.strip() == "error: ghost@v1 not found"
    r = runner.invoke(app, ["package", "pull", "not a ref", "-o", str(tmp_path / "x")])
    assert r.exit_code == 1 and r.stderr.count("\n") == 1
    _publish(tmp_path, "v1", b"a")
    _publish(tmp_path, "v1", b"b", project="planning")
    r = runner.invoke(app, ["package", "channel", "detector", "v1", "staging"])
    assert r.exit_code == 1 and "several projects" in r.stderr
    r = runner.invoke(app, ["package", "channel", "planning/detector", "v1", "staging"])
    assert r.exit_code == 0
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("mine")
    r = runner.invoke(app, ["package", "pull", "planning/detector@staging", "-o", str(occupied)])
    assert r.exit_code == 1 and (occupied / "keep.txt").read_text() == "mine"
