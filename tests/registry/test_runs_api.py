"""Runs API with the local executor: register, start with overrides, stop, restart, and bad input."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from registry.main import create_app
from tests.registry.conftest import Registry, web_session
from tests.registry.runs_support import make_experiment, poll
from toolkit.client import InProcessTransport


@pytest.fixture(scope="module")
def experiment_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_experiment(tmp_path_factory.mktemp("runs-api"))


def setup_experiment(registry: Registry, repo: Path) -> None:
    admin = registry.admin
    assert admin.post("/api/v1/projects", json={"name": "perception"}).status_code == 201
    r = admin.post("/api/v1/experiments", json={"project": "perception", "name": "cams", "repo_url": str(repo)})
    assert r.status_code == 201, r.text


def test_start_with_overrides_then_stop_and_read_back_after_restart(
    registry: Registry, experiment_repo: Path, db_url: str
) -> None:
    setup_experiment(registry, experiment_repo)
    admin = registry.admin
    assert [e["name"] for e in admin.get("/api/v1/experiments").json()] == ["cams"]
    r = admin.post("/api/v1/experiments/perception/cams/runs", json={"overrides": ["trainer.lr=0.002"]})
    assert r.status_code == 201, r.text
    run = r.json()
    assert run["number"] == 1 and run["executor"] == "local" and run["overrides"] == ["trainer.lr=0.002"]
    assert run["status"] in ("pending", "running")
    assert run["resources"]["cpu"] >= 1 and run["resources"]["gpus"] == 0
    assert run["job_id"]
    # A second registry process on the same database sees the run and polls the same job.
    app2 = create_app(database_url=db_url)
    c2 = httpx.Client(transport=InProcessTransport(app2), base_url="http://registry.test", headers=admin.headers)
    try:
        again = c2.get(f"/api/v1/runs/{run['id']}").json()
        assert again["job_id"] == run["job_id"]
        assert again["status"] in ("pending", "running")
    finally:
        c2.close()
        app2.state.db.dispose()
    stopped = admin.post(f"/api/v1/runs/{run['id']}/stop")
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["status"] == "stopped"
    listed = admin.get("/api/v1/experiments/perception/cams/runs").json()
    assert [(x["number"], x["status"]) for x in listed] == [(1, "stopped")]
    # Issue 22 finding 13: stopping a run is audited like starting it.
    stops = admin.get("/api/v1/audit", params={"action": "run.stop"}).json()
    assert [(e["actor"], e["target"], e["after"]["status"]) for e in stops] == [
        ("admin", "run:perception/cams/1", "stopped")
    ]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_bad_input_is_one_clear_error_and_starts_nothing(registry: Registry, experiment_repo: Path) -> None:
    setup_experiment(registry, experiment_repo)
    admin = registry.admin
    cases = [
        (["nonsense"], 400, "override 'nonsense': write KEY=VALUE"),
        (["trainer.lr=-1"], 400, "trainer.lr"),
        (["trainer.nosuch=1"], 400, "nosuch"),
    ]
    for overrides, status, message in cases:
        r = admin.post("/api/v1/experiments/perception/cams/runs", json={"overrides": overrides})
        assert r.status_code == status, r.text
        assert message in r.json()["error"]["message"]
        assert "\n" not in r.json()["error"]["message"]
    assert admin.get("/api/v1/experiments/perception/cams/runs").json() == []
    assert admin.post("/api/v1/experiments/perception/nope/runs", json={}).status_code == 404
    dup = admin.post("/api/v1/experiments", json={"project": "perception", "name": "cams", "repo_url": "/x"})
    assert dup.status_code == 409
    viewer = registry.client(registry.user("vera", "perception", "viewer"))
    assert viewer.get("/api/v1/experiments").json()[0]["name"] == "cams"
    denied = viewer.post("/api/v1/experiments/perception/cams/runs", json={"overrides": []})
    assert denied.status_code == 403
    assert registry.client().get("/api/v1/experiments").status_code == 401
    outsider = registry.client(registry.user("otto"))
    assert outsider.post("/api/v1/experiments/perception/cams/runs", json={}).status_code == 404
    assert admin.post("/api/v1/runs/999/retry").status_code == 404


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_retry_and_release_need_the_right_state(registry: Registry, experiment_repo: Path) -> None:
    setup_experiment(registry, experiment_repo)
    admin = registry.admin
    run = admin.post("/api/v1/experiments/perception/cams/runs", json={"overrides": []}).json()
    try:
        r = admin.post(f"/api/v1/runs/{run['id']}/retry")
        assert r.status_code == 409 and "only failed or stopped runs" in r.json()["error"]["message"]
        r = admin.post(f"/api/v1/runs/{run['id']}/release", json={"package": "cams", "version": "v1"})
        assert r.status_code == 409 and "only succeeded runs" in r.json()["error"]["message"]
    finally:
        admin.post(f"/api/v1/runs/{run['id']}/stop")
    final = poll(lambda: admin.get(f"/api/v1/runs/{run['id']}").json()["status"], lambda s: s == "stopped", 30, "stop")
    assert final == "stopped"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_cookie_writes_need_the_csrf_token(registry: Registry, experiment_repo: Path) -> None:
    from registry.core.security import csrf_token

    setup_experiment(registry, experiment_repo)
    session_id = web_session(registry.client(), registry.admin_token)
    browser = httpx.Client(transport=InProcessTransport(registry.app), base_url="http://registry.test",
                           cookies={"pitlane_session": session_id})  # fmt: skip
    r = browser.post("/api/v1/experiments/perception/cams/runs", json={"overrides": ["nonsense"]})
    assert r.status_code == 403 and "CSRF" in r.json()["error"]["message"]
    r = browser.post(
        "/api/v1/experiments/perception/cams/runs",
        json={"overrides": ["nonsense"]},
        headers={"X-CSRF-Token": csrf_token(session_id)},
    )
    assert r.status_code == 400  # past the CSRF check, stopped by the override check
    browser.close()
