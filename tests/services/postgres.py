"""A real Debian PostgreSQL 15 server for the registry tests, once per test session.

initdb/pg_ctl refuse to run as root, so as root the cluster belongs to the
`postgres` system user (created by the Debian package) and every command
runs through `runuser`. The cluster lives in a fresh /tmp directory (pytest's
temp dirs are 0700 root-owned, not traversable by `postgres`), listens on a
free localhost port with its socket in that directory, trusts local
connections, and skips fsync: it is a throwaway test database.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.services import free_port

PG_BIN = Path(os.environ.get("PITLANE_PG_BIN", "/usr/lib/postgresql/15/bin"))


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self, template: str | None = None) -> str:
        """A new database (empty, or a copy of ``template``); returns its SQLAlchemy URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(
            f"host={self.host} port={self.port} user={self.user} dbname=postgres", autocommit=True
        ) as conn:
            clone = f' TEMPLATE "{template}"' if template else ""
            conn.execute(f'CREATE DATABASE "{name}"{clone}')
        return self.url(name)


def _as_owner(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _owner() -> str:
    if os.geteuid() == 0:
        return "postgres"
    import getpass

    return getpass.getuser()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    if not (PG_BIN / "initdb").exists():
        raise RuntimeError(f"PostgreSQL not found in {PG_BIN}: apt-get install postgresql (scripts/system-deps.sh)")
    root = Path(tempfile.mkdtemp(prefix="pitlane-pg-"))
    data, log = root / "data", root / "server.log"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = free_port()
    run = lambda cmd: subprocess.run(_as_owner(cmd), check=True, capture_output=True, text=True)  # noqa: E731
    try:
        run([str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", _owner(), "--no-sync", "-E", "UTF8"])
        opts = (
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=200"
        )
        run([str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", opts, "-w", "-t", "60", "start"])
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or "") + (log.read_text()[-2000:] if log.exists() else "")
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {detail}") from None
    try:
        yield PostgresServer("127.0.0.1", port, _owner())
    finally:
        subprocess.run(
            _as_owner([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]), capture_output=True
        )
        shutil.rmtree(root, ignore_errors=True)
