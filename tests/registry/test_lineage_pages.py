"""The /trace page and the package page's lineage block in Debian chromium over real uvicorn."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from registry.main import create_app
from registry.models import PackageVersion
from registry.models_links import BagSource, VersionDep
from tests.services.browser import serve_app

pytestmark = pytest.mark.browser
SOURCE = hashlib.md5(b"source bag").hexdigest()
SLICE = hashlib.md5(b"slice").hexdigest()


def _seed(url: str, app: Any) -> None:
    api = httpx.Client(base_url=f"{url}/api/v1")  # embedded_user: anonymous requests act as the local admin
    assert api.post("/projects", json={"name": "perception"}).status_code == 201
    body = {
        "version": "v1.0.0",
        "commit": "a" * 40,
        "tag": "detector@v1.0.0",
        "files": [{"path": "models/model.pt", "md5": hashlib.md5(b"w").hexdigest(), "size": 1}],
        "manifest": {"run": {"path": "run.json", "sha256": "b" * 64, "summary": {"seed": 3}}},
    }
    assert api.post("/projects/perception/packages/detector/versions", json=body).status_code == 201
    # The lineage rows Git sync writes from dvc.lock and slice sidecars (sync itself: tests/registry/test_sync.py).
    with app.state.db.transaction() as s:
        vid = s.execute(select(PackageVersion.id)).scalar_one()
        s.add(VersionDep(version_id=vid, path="data/slices/a.mcap", md5=SLICE, stage="train"))
        s.add(
            BagSource(
                version_id=vid,
                slice_path="data/slices/a.mcap",
                slice_md5=SLICE,
                source_path="bags/drive_0042.mcap",
                source_md5=SOURCE,
            )
        )
    fw = {"name": "adas", "version": "2025.11.0", "packages": ["perception/detector@v1.0.0"]}
    assert api.post("/projects/perception/firmware", json=fw).status_code == 201
    dep = {"vehicle": "odaiba-3", "firmware": "adas@2025.11.0", "site": "odaiba"}
    assert api.post("/deployments", json=dep).status_code == 201
    ev = {
        "suite": "sim-v3",
        "passed": 9,
        "failed": 1,
        "total": 10,
        "verdict": "fail",
        "ci_run_url": "https://ci.example/runs/9",
    }
    assert api.post("/projects/perception/packages/detector/versions/v1.0.0/evaluations", json=ev).status_code == 201


def test_trace_page_walks_both_ways_and_reports_bad_subjects(page: Any, tmp_path: Path) -> None:
    app = create_app(database_url=f"sqlite:///{tmp_path / 'r.db'}", embedded_user="admin")
    with serve_app(app) as url:
        _seed(url, app)
        page.goto(f"{url}/trace?subject=vehicle:odaiba-3")
        assert page.locator("#trace-vehicles tbody tr").all_inner_texts()[0].startswith("odaiba-3")
        assert "adas@2025.11.0" in page.locator("#trace-firmware").inner_text()
        section = page.locator("section.trace-package")
        assert section.get_attribute("data-package") == "perception/detector@v1.0.0"
        assert "sim-v3 9/10 fail" in section.inner_text()
        assert "bags/drive_0042.mcap" in section.locator("table.trace-bags").inner_text()
        section.locator(f"table.trace-bags a:text('{SOURCE}')").click()  # reverse: which vehicles use this bag
        page.wait_for_url(f"**/trace?subject=bag%3A{SOURCE}")
        assert page.locator("#trace-vehicles tbody tr[data-vehicle=odaiba-3]").count() == 1

        page.fill("input[name=subject]", "robot:7")
        page.click("#trace-form button[type=submit]")
        assert "invalid trace subject" in page.locator("#trace-error").inner_text()
        response = page.goto(f"{url}/trace?subject=vehicle:nowhere")
        assert response.status == 404 and "no deployments recorded" in page.locator("#trace-error").inner_text()

        page.goto(f"{url}/packages/perception/detector")
        lineage = page.locator("#lineage")
        assert "Lineage of v1.0.0" in lineage.inner_text()
        assert SOURCE in lineage.inner_text() and "odaiba-3" in lineage.inner_text()
