"""A real local Ray head (GCS, raylet, dashboard with the Jobs API), started once per test session.

`ray start --head --block` runs in its own process group; teardown signals the
group, so no Ray process outlives the session (never `ray stop`, which would
end every Ray process on the machine, including other people's).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.services import free_port


@dataclass(frozen=True)
class RayHead:
    address: str  # dashboard URL: what JobSubmissionClient and PITLANE_RAY_ADDRESS take
    gcs_port: int
    temp_dir: Path
    start_seconds: float
    pgid: int


@contextlib.contextmanager
def local_ray_head(prefix: str = "rayt", timeout_s: float = 120) -> Iterator[RayHead]:
    """A Ray head on loopback until the block ends (bench/ci.py times its start-up with this too)."""
    ray = Path(sys.executable).parent / "ray"
    # Ray's socket paths must stay short (AF_UNIX limit): a short temp dir, not pytest's deep one.
    temp = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    gcs, dash = free_port(), free_port()
    argv = [
        str(ray), "start", "--head", f"--port={gcs}", f"--dashboard-port={dash}", "--dashboard-host=127.0.0.1",
        f"--temp-dir={temp}", "--num-cpus=2", "--include-dashboard=true", "--disable-usage-stats",
        "--object-store-memory=100000000", "--block",
    ]  # fmt: skip
    # Token auth off: a test cluster on loopback; Ray turns it on when ~/.ray/auth_token exists.
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    started = time.monotonic()
    log = (temp / "head.log").open("w")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{dash}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"ray start exited {proc.returncode}: see {temp / 'head.log'}")
            try:
                urllib.request.urlopen(f"{url}/api/version", timeout=1).read()
                break
            except urllib.error.HTTPError:
                break  # it answers (401 when Ray's token authentication is on): the dashboard is up
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Ray dashboard did not come up in {timeout_s:.0f} s") from None
                time.sleep(0.2)
        yield RayHead(url, gcs, temp, time.monotonic() - started, proc.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=3)
        # `ray start --block` hangs draining a GCS it already stopped; the group goes with SIGKILL.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="session")
def ray_head() -> Iterator[RayHead]:
    with local_ray_head() as head:
        yield head
