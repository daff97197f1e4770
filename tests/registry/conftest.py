"""Registry fixtures: the app on SQLite and on a real PostgreSQL, and callers with each role."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from registry.core.db import Database
from registry.core.migrate import upgrade
from registry.main import create_app
from registry.services.tokens import bootstrap_admin
from tests.services.postgres import PostgresServer
from toolkit.client import InProcessTransport

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied per test (migrating each time costs seconds on a busy machine)."""
    path = tmp_path_factory.mktemp("template") / "registry.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db.engine)
    with db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres_server: PostgresServer) -> str:
    """A migrated PostgreSQL database that per-test databases are cloned from."""
    url = postgres_server.create_database()
    db = Database(url)
    upgrade(db.engine)
    db.dispose()
    return url.rsplit("/", 1)[1]


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copyfile(template, tmp_path / "registry.db")
        return f"sqlite:///{tmp_path / 'registry.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database(template=request.getfixturevalue("postgres_template"))


@dataclass
class Registry:
    """One registry app plus helpers to make users with roles and HTTP clients for them."""

    app: FastAPI
    db: Database
    admin_token: str
    _clients: list[httpx.Client] = field(default_factory=list)

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        c = httpx.Client(transport=InProcessTransport(self.app), base_url="http://registry.test", headers=headers)
        self._clients.append(c)
        return c

    @property
    def admin(self) -> httpx.Client:
        return self.client(self.admin_token)

    def user(self, name: str, project: str | None = None, role: str | None = None) -> str:
        """Create a user (once), optionally give a project role, and return a fresh token."""
        admin = self.admin
        r = admin.post("/api/v1/users", json={"name": name})
        assert r.status_code in (201, 409), r.text
        if project and role:
            r = admin.put(f"/api/v1/projects/{project}/members/{name}", json={"role": role})
            assert r.status_code == 200, r.text
        r = admin.post("/api/v1/tokens", json={"name": f"{name}-token", "user": name})
        assert r.status_code == 201, r.text
        return str(r.json()["token"])

    def close(self) -> None:
        for c in self._clients:
            c._transport.close()
            c.close()
        self.db.dispose()


@pytest.fixture
def registry(db_url: str) -> Iterator[Registry]:
    app = create_app(database_url=db_url)
    with app.state.db.transaction() as session:
        token = bootstrap_admin(session).token
    reg = Registry(app, app.state.db, token)
    try:
        yield reg
    finally:
        reg.close()


def web_session(client: httpx.Client, token: str) -> str:
    """Log a browser in through /login: the session id its cookie holds (never the token itself)."""
    r = client.post("/login", data={"token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text
    cookie = r.cookies.get("pitlane_session")
    assert cookie and cookie != token
    return str(cookie)


def file_entry(path: str, content: bytes, url: str = "") -> dict[str, Any]:
    return {"path": path, "md5": hashlib.md5(content).hexdigest(), "size": len(content), "url": url}


def publish(
    client: httpx.Client, project: str, name: str, version: str, files: list[dict[str, Any]] | None = None, **extra: Any
) -> httpx.Response:
    if files is None:
        files = [file_entry("model.pt", b"w" + version.encode())]
    body = {"version": version, "files": files, **extra}
    return client.post(f"/api/v1/projects/{project}/packages/{name}/versions", json=body)
