"""The CI/CD loop through the local workflow harness, over the REAL workflow files.

push to an experiment repo (from `pitlane init`) -> experiment workflow trains on CPU and pushes to
S3 (SeaweedFS) -> `pitlane release` tags NAME@VERSION with a staging channel -> release workflow
verifies the tag and notifies the registry's webhook (real uvicorn) -> the registry syncs the version ->
a consumer workflow resolves NAME@staging with a robot token, downloads and verifies it, simulates and
posts an evaluation -> `pitlane trace` shows it. Bad tags fail the release job with one line and publish
nothing; a robot that may not read the package gets 403 and a failing step that says so.

Only GitHub itself is replaced: the harness runs the jobs here, and `pitlane/pitlane` in `uses:` maps
to this checkout. The PR comment step is not exercised (it needs GitHub's API).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from registry.main import create_app
from registry.services.access import create_project, load_principal
from registry.services.remotes import register_remote
from registry.services.tokens import bootstrap_admin, create_token
from tests.conftest import BAGS, REPO_ROOT
from tests.services.browser import serve_app
from toolkit.ci import RunOptions, WorkflowRun, run_workflow
from toolkit.cli.main import app as cli
from toolkit.config import Settings

pytestmark = pytest.mark.slow

WEBHOOK_SECRET = "whsec-e2e"
PITLANE = {"pitlane/pitlane": REPO_ROOT}
SIM = """
import json, sys
from pathlib import Path
import torch

weights = torch.load(Path(sys.argv[1]) / "models" / "model.pt", weights_only=True)
finite = [bool(torch.isfinite(t).all()) for t in weights.values()]
print(json.dumps({"passed": sum(finite), "failed": len(finite) - sum(finite),
                  "metrics": {"tensors": len(finite)}}))
"""


def sh(cwd: Path, *args: str) -> str:
    done = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout.strip()


@dataclass
class Loop:
    url: str
    admin: httpx.Client
    exp: Path
    origin: Path
    consumer: Path
    robot: str
    blind_robot: str
    secrets: dict[str, str]

    def run(self, workspace: Path, workflow: str, **kw: Any) -> WorkflowRun:
        lines: list[str] = []
        options = RunOptions(
            workspace=workspace,
            secrets=self.secrets | kw.pop("secrets", {}),
            vars={"PITLANE_REGISTRY_URL": self.url, "PITLANE_CLONE_URL": str(self.origin)},
            repos=PITLANE,
            log=lines.append,
            **kw,
        )
        result = run_workflow(workspace / ".github" / "workflows" / workflow, None, options)
        result.log = lines  # type: ignore[attr-defined]
        return result

    def versions(self) -> list[str]:
        r = self.admin.get("/api/v1/projects/perception/packages/cams/versions")
        return [] if r.status_code == 404 else [v["version"] for v in r.json()]


@pytest.fixture
def loop(tmp_path: Path, s3_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Loop]:
    from toolkit.experiment.scaffold import init_experiment

    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    exp = init_experiment(tmp_path / "cams", data=[f"raw={BAGS / 'sensors' / 'spot_cameras_raw.bag'}"], name="cams",
                          seed=3, max_steps=8)  # fmt: skip
    dvc = str(Path(sys.executable).parent / "dvc")
    sh(exp, dvc, "remote", "add", "-d", "storage", f"s3://{s3_server.bucket}/e2e-{tmp_path.name}")
    sh(exp, dvc, "remote", "modify", "storage", "endpointurl", s3_server.endpoint)
    sh(exp, dvc, "remote", "modify", "storage", "region", "us-east-1")
    sh(exp, "git", "commit", "-qam", "dvc remote on S3")
    origin = tmp_path / "origin.git"
    sh(tmp_path, "git", "init", "-q", "--bare", str(origin))
    sh(exp, "git", "remote", "add", "origin", str(origin))
    sh(exp, "git", "push", "-q", "origin", "HEAD:main")
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)  # the developer's own `pitlane release` pushes to S3 too
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint)  # where the registry server reads objects

    consumer = tmp_path / "consumer"
    (consumer / ".github" / "workflows").mkdir(parents=True)
    (consumer / "sim").mkdir()
    shutil.copy(REPO_ROOT / "docs" / "cicd" / "consumer-workflow.yml", consumer / ".github/workflows/evaluate.yml")
    (consumer / "sim" / "run.py").write_text(SIM)
    sh(consumer, "git", "init", "-q")
    sh(consumer, "git", "add", "-A")
    sh(consumer, "git", "commit", "-qm", "consumer")

    settings = Settings(home=tmp_path / "registry", webhook_secret=WEBHOOK_SECRET)
    registry = create_app(settings, database_url=f"sqlite:///{tmp_path / 'registry' / 'registry.db'}")
    with registry.state.db.transaction() as session:
        boot = bootstrap_admin(session)
        admin = load_principal(session, boot.row.user)
        project = create_project(session, admin, "perception")
        register_remote(session, admin, "perception", str(origin))
        robot = create_token(session, admin, name="sim-ci", project=project, robot=True,
                             scopes=["packages:read", "evaluations:write"]).token  # fmt: skip
        blind = create_token(session, admin, name="blind-ci", project=project, robot=True,
                             scopes=["evaluations:write"]).token  # fmt: skip
    with serve_app(registry) as url:
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {boot.token}"}, timeout=60)
        secrets = {**s3_server.env(), "PITLANE_WEBHOOK_SECRET": WEBHOOK_SECRET, "PITLANE_ROBOT_TOKEN": robot}
        try:
            yield Loop(url, client, exp, origin, consumer, robot, blind, secrets)
        finally:
            client.close()
            registry.state.db.dispose()


def test_push_train_release_sync_consume_evaluate_trace(loop: Loop) -> None:
    # push: the experiment workflow validates the spec, picks the runner from it, trains and pushes to S3.
    push = loop.run(loop.exp, "experiment.yml", event="push")
    assert push.ok, push.failure
    assert push.jobs["repro/plan"].outputs["runner"] == '["ubuntu-latest"]'
    assert push.jobs["repro/repro"].runs_on == ["ubuntu-latest"]
    metrics = json.loads(push.jobs["repro/repro"].outputs["metrics"])
    assert "dvclive/metrics.json" in json.dumps(metrics) and "loss" in json.dumps(metrics)
    cloud = sh(loop.exp, str(Path(sys.executable).parent / "dvc"), "status", "--cloud", "--json")
    assert json.loads(cloud or "{}") == {}, cloud  # everything the run made is on S3

    # The developer commits the run and releases it to staging (annotated tags pushed to origin).
    sh(loop.exp, "git", "add", "-A")
    sh(loop.exp, "git", "commit", "-qm", "train")
    sh(loop.exp, "git", "push", "-q", "origin", "HEAD:main")
    # pull_request: the same pipeline (a run-cache no-op now) comments the metrics/params diff on the PR.
    # `gh` is a recording test double: GitHub's API cannot be reached from here.
    fake_bin = loop.exp.parent / "fake-bin"
    fake_bin.mkdir()
    (fake_bin / "gh").write_text(
        '#!/bin/bash\nprintf "%s\\n" "$*" > "$GH_LOG"\nwhile [ $# -gt 0 ]; do\n'
        '  if [ "$1" = --body-file ]; then cat "$2" >> "$GH_LOG"; fi; shift\ndone\n'
    )
    (fake_bin / "gh").chmod(0o755)
    gh_log = loop.exp.parent / "gh.log"
    sh(loop.exp, "git", "checkout", "-qb", "feature")
    pr = loop.run(loop.exp, "experiment.yml", event="pull_request", base_ref="main",
                  env={"PATH": f"{fake_bin}:{os.environ['PATH']}", "GH_LOG": str(gh_log)})  # fmt: skip
    sh(loop.exp, "git", "checkout", "-q", "main")
    assert pr.ok, pr.failure
    comment = gh_log.read_text()
    assert comment.startswith("pr comment 1 --body-file ")
    assert "### pitlane: metrics and params vs `main`" in comment
    assert "### pitlane: metrics and params vs `main`" in pr.jobs["repro/repro"].summary

    sh(loop.exp, "pitlane", "release", "cams", "v1.0.0", "--files", "models", "--channel", "staging")
    assert loop.versions() == []  # nothing reaches the registry before the release workflow tells it

    # tag: the release workflow verifies the manifest and notifies the registry, which syncs.
    release = loop.run(loop.exp, "release.yml", event="tag", ref="cams@v1.0.0")
    assert release.ok, release.failure
    assert release.outputs == {} and release.jobs["release"].outputs == {"name": "cams", "version": "v1.0.0"}
    assert loop.versions() == ["v1.0.0"]
    channels = loop.admin.get("/api/v1/projects/perception/packages/cams/channels").json()
    assert {c["channel"]: c["version"] for c in channels} == {"staging": "v1.0.0"}

    # consumer: resolve cams@staging with the robot token, verify the download, simulate, post the evaluation.
    consume = loop.run(loop.consumer, "evaluate.yml", event="push")
    assert consume.ok, consume.failure
    sim = consume.jobs["simulate"]
    model = sim.step("model").outputs
    assert model["version"] == "v1.0.0"
    assert (Path(model["path"]) / "models" / "model.pt").is_file()
    assert "models/model.pt" in json.loads(model["files"])
    evaluation = sim.steps[-1].outputs
    assert evaluation["verdict"] == "pass" and evaluation["id"]

    runner = CliRunner()
    env = {"PITLANE_REGISTRY_URL": loop.url, "PITLANE_TOKEN": loop.admin.headers["Authorization"].split()[1]}
    traced = runner.invoke(cli, ["trace", "package:perception/cams@v1.0.0"], env=env)
    assert traced.exit_code == 0, traced.output
    assert "evaluation closed-loop-sim:" in traced.stdout and " pass" in traced.stdout

    # A robot without packages:read: 403 from the registry, and the resolve step says so in one line.
    blind = loop.run(loop.consumer, "evaluate.yml", event="push", secrets={"PITLANE_ROBOT_TOKEN": loop.blind_robot})
    assert not blind.ok
    error = blind.jobs["simulate"].error or ""
    assert error.startswith("step 'Resolve and download the model' (pitlane/pitlane/.github/actions/resolve-package")
    assert error.endswith(
        "resolve perception/cams@staging: blind-ci may not packages:read on package 'cams' (permission denied)"
    ), error
    assert "\n" not in error


def test_bad_tags_fail_the_release_job_with_one_line_and_publish_nothing(loop: Loop) -> None:
    # A tag outside the NAME@VERSION grammar.
    sh(loop.exp, "git", "tag", "-a", "cams_@v2", "-m", "not a release")
    bad = loop.run(loop.exp, "release.yml", event="tag", ref="cams_@v2")
    assert not bad.ok
    assert bad.jobs["release/verify"].error == (
        "step 'Verify the manifest' failed (exit 1): tag 'cams_@v2' is not a release tag NAME@VERSION"
    )
    assert bad.jobs["release/notify"].result == "skipped"

    # A well-formed release tag on a commit that has no outputs (no dvc.lock).
    head = sh(loop.exp, "git", "rev-parse", "HEAD")
    manifest = {
        "schema": "pitlane.package/v1", "name": "cams", "version": "v0.1.0", "tag": "cams@v0.1.0", "commit": head,
        "created_at": "2026-01-01T00:00:00Z", "files": [{"path": "models", "md5": "0" * 32 + ".dir"}],
    }  # fmt: skip
    sh(loop.exp, "git", "tag", "-a", "cams@v0.1.0", "-m", json.dumps(manifest))
    sh(loop.exp, "git", "push", "-q", "origin", "cams@v0.1.0")
    empty = loop.run(loop.exp, "release.yml", event="tag", ref="cams@v0.1.0")
    assert not empty.ok
    reason = empty.jobs["release/verify"].error or ""
    assert reason.endswith(f"cams@v0.1.0: commit {head[:12]} has no DVC-tracked outputs (no dvc.lock)"), reason
    assert empty.jobs["release/notify"].result == "skipped"
    assert loop.versions() == []
