"""Property-based API fuzzing from the OpenAPI schema: no input may cause a 5xx.

Runs every operation of the app (including routes other parts add) as a
registry admin against a seeded SQLite registry, in process via ASGI.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from registry.main import create_app
from registry.services.tokens import bootstrap_admin
from tests.registry.conftest import file_entry

TOKEN: dict[str, str] = {}
EXAMPLES = 8


@pytest.fixture
def api_schema(sqlite_template: Path, tmp_path: Path) -> Iterator[Any]:
    shutil.copyfile(sqlite_template, tmp_path / "registry.db")
    app = create_app(database_url=f"sqlite:///{tmp_path / 'registry.db'}")
    with app.state.db.transaction() as session:
        TOKEN["admin"] = bootstrap_admin(session).token
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app)
    # Seed data so that generated paths sometimes hit real rows, not only 404s.
    from httpx import Client

    from toolkit.client import InProcessTransport

    transport = InProcessTransport(app)
    with Client(
        transport=transport, base_url="http://seed", headers={"Authorization": f"Bearer {TOKEN['admin']}"}
    ) as c:
        c.post("/api/v1/projects", json={"name": "perception"})
        c.post(
            "/api/v1/projects/perception/packages/detector/versions",
            json={"version": "v1", "files": [file_entry("model.pt", b"x", str(tmp_path / "registry.db"))]},
        )
    transport.close()
    yield loaded
    app.state.db.dispose()


def test_no_server_errors(api_schema: Any) -> None:
    # schemathesis' pytest plugin does not load under this pytest; drive its strategies with hypothesis directly.
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 20

    for op in operations:

        @given(case=op.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            response = case.call(headers={"Authorization": f"Bearer {TOKEN['admin']}"})
            where = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500, f"{where} -> {response.status_code}: {response.text[:300]}"
            if response.status_code >= 400 and "application/json" in str(response.headers.get("content-type")):
                error = response.json().get("error", {})
                assert isinstance(error.get("code"), str) and isinstance(error.get("message"), str), where

        try:
            check()
        except Exception as exc:  # collect every operation's failure, not only the first
            failures.append(f"{op.label}: {str(exc).splitlines()[0]}")
    assert not failures, "\n".join(failures)
