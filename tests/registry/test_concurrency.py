"""Concurrent writers against a real uvicorn server: one publish wins, the audit chain stays whole."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import httpx

from tests.registry.conftest import Registry, file_entry
from tests.services.browser import serve_app

WRITERS = 12


def _race(url: str, token: str, bodies: list[dict[str, Any]], path: str) -> list[int]:
    barrier = threading.Barrier(len(bodies))
    codes: list[int] = [0] * len(bodies)

    def work(i: int) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
            barrier.wait()
            codes[i] = c.post(path, json=bodies[i]).status_code

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return codes


def test_concurrent_publishes_of_one_version(registry: Registry) -> None:
    registry.admin.post("/api/v1/projects", json={"name": "perception"})
    path = "/api/v1/projects/perception/packages/detector/versions"
    with serve_app(registry.app) as url:
        different = [{"version": "v1", "files": [file_entry("m.pt", f"writer {i}".encode())]} for i in range(WRITERS)]
        codes = Counter(_race(url, registry.admin_token, different, path))
        assert codes == {201: 1, 409: WRITERS - 1}, codes
        same = [{"version": "v2", "files": [file_entry("m.pt", b"same")]} for _ in range(WRITERS)]
        codes = Counter(_race(url, registry.admin_token, same, path))
        assert codes == {201: 1, 200: WRITERS - 1}, codes
        # Different versions at once all succeed and each extends the one audit chain.
        many = [{"version": f"v3.{i}", "files": [file_entry("m.pt", b"x")]} for i in range(WRITERS)]
        assert Counter(_race(url, registry.admin_token, many, path)) == {201: WRITERS}
    versions = registry.admin.get(path).json()
    assert len(versions) == 2 + WRITERS
    report = registry.admin.get("/api/v1/audit/verify").json()
    assert report["ok"] is True
    published = registry.admin.get("/api/v1/audit", params={"action": "version.publish", "limit": 1000}).json()
    assert len(published) == 2 + WRITERS
