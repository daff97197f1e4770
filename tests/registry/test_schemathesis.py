"""Property-based API fuzzing from the OpenAPI schema, as a registry admin, a project developer and anonymously.

Every operation of the app (including routes other parts add) runs against a
seeded SQLite registry in process via ASGI. Two properties must hold for every
generated case: no server error (5xx), and every response whose status the
schema declares (errors included, through ``default``) matches its schema.
The number of generated cases is printed per caller (``pytest -s``) and kept
as a junit property.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from registry.main import create_app
from registry.services.tokens import bootstrap_admin
from tests.registry.conftest import file_entry

# Small enough for ~1-2 minutes on two cores for all three callers, large enough to reach every operation's
# validation, authorization and not-found paths.
EXAMPLES = {"admin": 8, "developer": 6, "anonymous": 3}
CHECKS = [not_a_server_error, response_schema_conformance]


@pytest.fixture
def api(sqlite_template: Path, tmp_path: Path) -> Iterator[tuple[Any, dict[str, str]]]:
    from httpx import Client

    from toolkit.client import InProcessTransport

    shutil.copyfile(sqlite_template, tmp_path / "registry.db")
    app = create_app(database_url=f"sqlite:///{tmp_path / 'registry.db'}")
    with app.state.db.transaction() as session:
        tokens = {"admin": bootstrap_admin(session).token}
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app)
    # Seed data so that generated paths sometimes hit real rows, not only 404s.
    blob = tmp_path / "model.pt"
    blob.write_bytes(b"x")
    transport = InProcessTransport(app)
    with Client(
        transport=transport, base_url="http://seed", headers={"Authorization": f"Bearer {tokens['admin']}"}
    ) as c:
        c.post("/api/v1/projects", json={"name": "perception"})
        c.post(
            "/api/v1/projects/perception/packages/detector/versions",
            json={"version": "v1", "files": [file_entry("model.pt", b"x", str(blob))]},
        )
        c.post("/api/v1/users", json={"name": "dev"})
        c.put("/api/v1/projects/perception/members/dev", json={"role": "developer"})
        tokens["developer"] = c.post("/api/v1/tokens", json={"name": "dev", "user": "dev"}).json()["token"]
    transport.close()
    yield loaded, tokens
    app.state.db.dispose()


def _describe(exc: BaseException) -> str:
    subs = exc.exceptions if isinstance(exc, BaseExceptionGroup) else (exc,)
    lines = [ln.strip() for sub in subs for ln in str(sub).splitlines() if ln.strip()]
    return " | ".join(lines[:4])[:400]


@pytest.mark.parametrize("caller", list(EXAMPLES))
def test_no_server_errors_and_responses_match_the_schema(
    api: tuple[Any, dict[str, str]], caller: str, record_property: Any
) -> None:
    # schemathesis' pytest plugin does not load under this pytest; drive its strategies with hypothesis directly.
    schema, tokens = api
    headers = {"Authorization": f"Bearer {tokens[caller]}"} if caller in tokens else {}
    failures: list[str] = []
    cases = 0
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 60

    for op in operations:

        @given(case=op.as_strategy())
        @settings(
            max_examples=EXAMPLES[caller],
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            nonlocal cases
            cases += 1
            response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS, headers=headers)
            if response.status_code >= 400 and "application/json" in str(response.headers.get("content-type")):
                error = response.json().get("error", {})
                assert isinstance(error.get("code"), str) and isinstance(error.get("message"), str)

        started = time.monotonic()
        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # every operation's failure, not only the first
            failures.append(f"{op.label}: {_describe(exc)}")
        if time.monotonic() - started > 5:
            print(f"slow: {op.label} {time.monotonic() - started:.1f} s")
    print(f"schemathesis as {caller}: {cases} generated cases over {len(operations)} operations")
    record_property(f"schemathesis_cases_{caller}", cases)
    assert not failures, "\n".join(failures)
