"""Runs from the web on Ray, in Debian chromium: start with an override, watch it finish, release it;
a run no node can hold says why; a run whose Ray worker dies is failed, and its retry resumes from the
last checkpoint to the same weights as an uninterrupted run.

Everything is real: a local Ray head (Jobs API), the registry under uvicorn, `pitlane run` training
on CPU, `pitlane release` pushing to SeaweedFS S3, and the registry's Git sync.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from registry.main import create_app
from registry.services.access import create_project
from registry.services.tokens import bootstrap_admin
from tests.registry.conftest import web_session
from tests.registry.runs_support import MAX_STEPS, git, make_experiment, poll
from tests.services.browser import serve_app
from toolkit.config import Settings

pytestmark = [pytest.mark.slow, pytest.mark.browser]

OVERRIDE = "trainer.lr=0.002"
TRAIN_TIMEOUT = 420


@dataclass
class WebRegistry:
    settings: Settings
    db_url: str
    token: str
    repo: Path

    def app(self) -> Any:
        return create_app(self.settings, database_url=self.db_url)


@pytest.fixture(scope="module")
def web_registry(tmp_path_factory: pytest.TempPathFactory, ray_head: Any, s3_server: Any) -> Iterator[WebRegistry]:
    root = tmp_path_factory.mktemp("runs-web")
    repo = make_experiment(root)
    # The DVC remote is committed (URL, endpoint); the keys come from the environment, as on a server.
    for args in (
        ["remote", "add", "-d", "storage", f"s3://{s3_server.bucket}/runs-web"],
        ["remote", "modify", "storage", "endpointurl", s3_server.endpoint],
        ["remote", "modify", "storage", "region", "us-east-1"],
    ):
        subprocess.run([str(Path(sys.executable).parent / "dvc"), *args], cwd=repo, check=True, capture_output=True)
    git(repo, "commit", "-qam", "dvc remote")
    home = root / "registry-home"
    # Module scope: the per-test environment (with its allowed remotes and storage) is not set up yet.
    local = f"file://{Path(tempfile.gettempdir()).resolve()}/"
    settings = Settings(
        home=home,
        executor="ray",
        ray_address=ray_head.address,
        allowed_remotes=["https://", local],
        allowed_storage=["s3://", local],
    )
    db_url = f"sqlite:///{home / 'registry.db'}"
    app = create_app(settings, database_url=db_url)
    with app.state.db.transaction() as session:
        new = bootstrap_admin(session)
        from registry.services.access import load_principal

        create_project(session, load_principal(session, new.row.user), "perception")
    app.state.db.dispose()
    with pytest.MonkeyPatch.context() as mp:
        for key, value in s3_server.env().items():
            mp.setenv(key, value)
        yield WebRegistry(settings, db_url, new.token, repo)


@pytest.fixture
def site(web_registry: WebRegistry, page: Any) -> Iterator[tuple[str, httpx.Client]]:
    with serve_app(web_registry.app()) as url:
        with httpx.Client(base_url=url) as anon:
            cookie = web_session(anon, web_registry.token)
        page.context.add_cookies([{"name": "pitlane_session", "value": cookie, "url": url}])
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {web_registry.token}"}, timeout=120)
        if not api.get("/api/v1/experiments").json():
            r = api.post("/api/v1/experiments", json={"project": "perception", "name": "cams",
                                                      "repo_url": str(web_registry.repo)})  # fmt: skip
            assert r.status_code == 201, r.text
        try:
            yield url, api
        finally:
            api.close()


def start_from_page(page: Any, url: str, overrides: list[str]) -> int:
    page.goto(f"{url}/experiments")
    page.click("text=cams")
    page.fill("#overrides", "\n".join(overrides))
    page.click("#start")
    page.wait_for_url(re.compile(r".*/runs/\d+$"), timeout=60_000)
    return int(page.url.rsplit("/", 1)[1])


def wait_status(page: Any, status: str, timeout_s: float = TRAIN_TIMEOUT) -> None:
    page.wait_for_function(
        "s => document.getElementById('status').textContent === s", arg=status, timeout=timeout_s * 1000
    )


def test_start_from_page_finish_release_and_see_the_version(web_registry: WebRegistry, site, page: Any) -> None:
    url, api = site
    run_id = start_from_page(page, url, [OVERRIDE])
    run = api.get(f"/api/v1/runs/{run_id}").json()
    assert run["executor"] == "ray" and run["job_id"].startswith("raysubmit_")
    assert run["overrides"] == [OVERRIDE]
    # The registry restarts mid-run: a new app instance on the same database re-polls the same Ray job.
    with serve_app(web_registry.app()) as url2:
        with httpx.Client(base_url=url2) as anon:
            cookie = web_session(anon, web_registry.token)
        page.context.add_cookies([{"name": "pitlane_session", "value": cookie, "url": url2}])
        page.goto(f"{url2}/runs/{run_id}")
        assert page.text_content("#job") == run["job_id"]
        wait_status(page, "succeeded")
        metrics = page.text_content("#metrics")
        assert "val_acc" in metrics and "train_loss" in metrics
        assert "Running stage 'train'" in page.text_content("#log")
        workdir = Path(web_registry.settings.home) / "runs" / "perception" / "cams" / "1"
        params = (workdir / "params.yaml").read_text()
        assert "lr: 0.002" in params  # the override reached the run
        page.fill("#version", "v1.0.0")
        page.fill("#files", "models")
        page.click("#release button[type=submit]")
        page.wait_for_function("() => document.getElementById('released').textContent !== ''", timeout=120_000)
        assert page.text_content("#released") == "cams@v1.0.0"
        versions = httpx.get(f"{url2}/api/v1/projects/perception/packages/cams/versions",
                             headers={"Authorization": f"Bearer {web_registry.token}"}).json()  # fmt: skip
        assert [v["version"] for v in versions] == ["v1.0.0"]
        assert {f["path"].split("/")[0] for f in versions[0]["files"]} == {"models"}
        page.goto(f"{url2}/experiments/perception/cams")
        assert "cams@v1.0.0" in page.text_content("#runs")


def test_run_no_node_can_hold_stays_pending_and_says_why(site, page: Any) -> None:
    url, api = site
    run_id = start_from_page(page, url, ["resources.train.gpus=1"])
    page.wait_for_function(
        "() => document.getElementById('message').textContent.includes('no node offers')", timeout=60_000
    )
    assert page.text_content("#status") == "pending"
    assert page.text_content("#message") == "waiting for resources: no node offers 1 GPU (no node has any)"
    page.click("#stop")
    wait_status(page, "stopped", 30)
    assert api.get(f"/api/v1/runs/{run_id}").json()["status"] == "stopped"


def _launcher_of(workdir: Path) -> int | None:
    """The outer launcher (the Ray job's entrypoint process) running in this work directory."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if b"registry.executors.launcher" in cmd and b"--inner" not in cmd and Path(cwd) == workdir:
            return int(entry)
    return None


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def reference_weights(api: httpx.Client, home: Path) -> dict[str, Any]:
    """Weights of an uninterrupted run with OVERRIDE: the page test's run, or a fresh one."""
    import torch

    runs = api.get("/api/v1/experiments/perception/cams/runs").json()
    done = [r for r in runs if r["overrides"] == [OVERRIDE] and r["status"] == "succeeded" and r["attempt"] == 1]
    if not done:
        run = api.post("/api/v1/experiments/perception/cams/runs", json={"overrides": [OVERRIDE]}).json()
        poll(lambda: api.get(f"/api/v1/runs/{run['id']}").json()["status"], lambda s: s in ("succeeded", "failed"),
             TRAIN_TIMEOUT, "reference run")  # fmt: skip
        done = [api.get(f"/api/v1/runs/{run['id']}").json()]
    assert done[0]["status"] == "succeeded"
    weights: dict[str, Any] = torch.load(
        home / "runs" / "perception" / "cams" / str(done[0]["number"]) / "models" / "model.pt", weights_only=True
    )
    return weights


def test_killed_ray_worker_fails_the_run_and_retry_resumes_to_the_same_weights(
    web_registry: WebRegistry, site, page: Any
) -> None:
    import torch

    url, api = site
    home = Path(web_registry.settings.home)
    expected = reference_weights(api, home)
    run_id = start_from_page(page, url, [OVERRIDE])
    number = api.get(f"/api/v1/runs/{run_id}").json()["number"]
    workdir = home / "runs" / "perception" / "cams" / str(number)
    checkpoints = workdir / "checkpoints"
    deadline = time.monotonic() + TRAIN_TIMEOUT
    while not list(checkpoints.glob("*/step-*.ckpt")):
        assert time.monotonic() < deadline, "no checkpoint in time"
        assert api.get(f"/api/v1/runs/{run_id}").json()["status"] in ("pending", "running")
        time.sleep(0.1)
    launcher = _launcher_of(workdir)
    assert launcher is not None
    supervisor = _ppid(launcher)
    assert b"JobSupervisor" in Path(f"/proc/{supervisor}/cmdline").read_bytes()
    os.kill(supervisor, signal.SIGKILL)  # the Ray worker process running this training
    saved = sorted(p.name for p in checkpoints.glob("*/*.ckpt"))
    assert f"step-{MAX_STEPS:06d}.ckpt" not in saved, f"killed too late: {saved}"

    wait_status(page, "failed", 120)
    assert "supervisor" in page.text_content("#message").lower()
    page.click("#retry")
    page.wait_for_function("() => document.getElementById('attempt').textContent === '2'", timeout=60_000)
    wait_status(page, "succeeded")
    record = json.loads((workdir / "run.json").read_text())
    assert record["training"]["resumed_from"].endswith(".ckpt")
    assert record["training"]["global_step"] == MAX_STEPS
    resumed = torch.load(workdir / "models" / "model.pt", weights_only=True)
    assert resumed.keys() == expected.keys()
    for key in expected:
        assert torch.equal(resumed[key], expected[key]), key
