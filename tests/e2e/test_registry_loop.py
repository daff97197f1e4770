"""The whole registry loop with real parts only.

Git + DVC experiment repo (DVC remote on SeaweedFS S3) -> `pitlane release`
-> signed GitHub webhook to a uvicorn registry -> sync -> channel ->
`pitlane package pull` in a fresh clone by a user of another project that was
granted access (and refused for one that was not) -> evaluation from a CI
robot token, firmware and deployment -> `pitlane trace vehicle:...` reaches
the source bag.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from registry.api.routes.webhooks import signature
from registry.core.config import Settings
from registry.main import create_app
from registry.services.tokens import bootstrap_admin
from tests.release.experiment import SECOND_BAG, VENV_BIN, make_experiment, md5
from tests.services.browser import serve_app
from tests.services.s3 import S3Server
from toolkit.cli.main import app

SECRET = "e2e-webhook-secret"
runner = CliRunner()

pytestmark = pytest.mark.slow


def _cli(monkeypatch: pytest.MonkeyPatch, token: str, *args: str, code: int = 0) -> str:
    monkeypatch.setenv("PITLANE_TOKEN", token)
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, f"pitlane {' '.join(args)} -> {result.exit_code}: {result.output}"
    return result.stdout if code == 0 else result.stderr


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_release_sync_pull_evidence_trace(s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}")  # dvc, as in an activated venv
    exp = make_experiment(tmp_path, configure_remote=lambda repo: s3_server.configure_dvc_remote(repo, "e2e-exp"))
    # The registry reads package bytes from the same S3 (as a server would, with its own credentials).
    for key, value in {**s3_server.env(), "AWS_ENDPOINT_URL": s3_server.endpoint}.items():
        monkeypatch.setenv(key, value)
    registry = create_app(Settings(webhook_secret=SECRET, database_url=f"sqlite:///{tmp_path / 'registry.db'}"))
    with registry.state.db.transaction() as s:
        admin = bootstrap_admin(s).token
    with serve_app(registry) as url:
        monkeypatch.setenv("PITLANE_REGISTRY_URL", url)
        api = httpx.Client(base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {admin}"})

        def token(body: dict[str, object]) -> str:
            r = api.post("/tokens", json=body)
            assert r.status_code == 201, r.text
            return str(r.json()["token"])

        for project in ("perception", "planning", "other"):
            _cli(monkeypatch, admin, "access", "project", "create", project)
        for user, project in (("paula", "planning"), ("mallory", "other")):
            _cli(monkeypatch, admin, "access", "user", "create", user)
            _cli(monkeypatch, admin, "access", "grant", "developer", "--user", user, "--project", project)
        _cli(monkeypatch, admin, "remote", "add", "perception", str(exp.remote))

        # 1. Release from the experiment repo: data to S3, manifest tag + stage tag to Git.
        out = json.loads(
            _cli(
                monkeypatch,
                admin,
                "release",
                "detector",
                "1.0.0",
                "--channel",
                "staging",
                "--repo",
                str(exp.path),
                "--json",
            )
        )
        assert (out["tag"], out["stage_tag"]) == ("detector@v1.0.0", "detector#staging#1")

        # 2. GitHub tells the registry about the push; the registry syncs the tags.
        payload = json.dumps(
            {"ref": "refs/tags/detector@v1.0.0", "repository": {"clone_url": str(exp.remote)}}
        ).encode()
        r = httpx.post(
            f"{url}/api/v1/webhooks/github",
            content=payload,
            headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": signature(SECRET, payload)},
        )
        assert r.status_code == 200, r.text
        assert r.json()["synced"][0]["channels"] == ["detector#staging -> v1.0.0"]

        # 3. Share the package with project planning; paula pulls it in a fresh clone.
        _cli(
            monkeypatch, admin, "access", "grant", "viewer", "--package", "perception/detector", "--project", "planning"
        )
        clone = tmp_path / "consumer"
        subprocess.run(["git", "clone", "-q", str(exp.remote), str(clone)], check=True)
        monkeypatch.chdir(clone)
        paula = token({"name": "paula-laptop", "user": "paula"})
        pulled = json.loads(
            _cli(monkeypatch, paula, "package", "pull", "perception/detector@staging", "-o", "models-pulled", "--json")
        )
        assert pulled["version"]["version"] == "v1.0.0"
        for name in ("model.pt", "config.json"):
            assert _md5(clone / "models-pulled" / "models" / name) == _md5(exp.path / "models" / name)
        mallory = token({"name": "mallory-laptop", "user": "mallory"})
        # Refused. The registry answers 404 (exit 3), not 403, to users who cannot see a package at all, so
        # that its existence does not leak (registry policy); a caller who can see it but lacks the right gets 4.
        refused = _cli(monkeypatch, mallory, "package", "pull", "perception/detector@staging", "-o", "m", code=3)
        assert refused.startswith("error: perception/detector@staging not found") and not (clone / "m").exists()
        _cli(
            monkeypatch,
            paula,
            "access",
            "grant",
            "viewer",
            "--package",
            "perception/detector",
            "--user",
            "mallory",
            code=4,
        )  # a viewer cannot pass the package on

        # 4. CI evidence: a robot token limited to evaluations of project perception.
        robot = token(
            {
                "name": "sim-ci",
                "project": "perception",
                "robot": True,
                "scopes": ["packages:read", "evaluations:write", "evaluations:read"],
            }
        )
        ev = json.loads(
            _cli(
                monkeypatch,
                robot,
                "eval",
                "add",
                "perception/detector@staging",
                "--suite",
                "sim-v3",
                "--passed",
                "118",
                "--failed",
                "2",
                "--total",
                "120",
                "--verdict",
                "pass",
                "--ci-run-url",
                "https://ci.example/runs/42",
                "--json",
            )
        )
        assert (ev["version"], ev["posted_by"]) == ("v1.0.0", "sim-ci")
        _cli(
            monkeypatch,
            robot,
            "firmware",
            "add",
            "adas@2025.11.0",
            "--project",
            "perception",
            "-p",
            "perception/detector@v1.0.0",
            code=4,
        )  # not in the robot's scopes
        _cli(
            monkeypatch,
            admin,
            "firmware",
            "add",
            "adas@2025.11.0",
            "--project",
            "planning",
            "-p",
            "perception/detector@v1.0.0",
        )
        _cli(monkeypatch, paula, "deploy", "record", "odaiba-3", "adas@2025.11.0", "--site", "odaiba")

        # 5. Lineage from the vehicle down to the source bag, and back.
        trace = json.loads(_cli(monkeypatch, paula, "trace", "vehicle:odaiba-3", "--json"))
        assert trace["source_bags"] == sorted([exp.source_bag_md5, md5(SECOND_BAG)])
        assert trace["packages"][0]["evaluations"][0]["ci_run_url"] == "https://ci.example/runs/42"
        back = json.loads(_cli(monkeypatch, admin, "trace", f"bag:{exp.source_bag_md5}", "--json"))
        assert [v["vehicle"] for v in back["vehicles"]] == ["odaiba-3"]
        audit = json.loads(_cli(monkeypatch, admin, "audit", "list", "--json"))
        actions = {e["action"] for e in audit}
        assert {"version.publish", "channel.set", "evaluation.add", "firmware.add", "deployment.record"} <= actions
        api.close()
