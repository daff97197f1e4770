"""`registry.serving`: several single-worker processes share one port (SO_REUSEPORT)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.services import free_port, wait_healthy


def test_processes_share_the_port_and_stop_together(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PITLANE_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}"}
    code = (
        "import sys; from registry.main import create_app; from registry.serving import serve_processes; "
        "serve_processes(create_app, '127.0.0.1', int(sys.argv[1]), 2)"
    )
    # Migrate once first, as `pitlane serve` does before it forks.
    subprocess.run([sys.executable, "-c", "from registry.main import create_app; create_app()"], env=env, check=True)
    proc = subprocess.Popen([sys.executable, "-c", code, str(port)], env=env, start_new_session=True)
    try:
        assert wait_healthy(f"http://127.0.0.1:{port}/api/v1/health", proc, 120, interval_s=0.3)
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        # Two servers (multiprocessing's resource tracker may be a third child).
        servers = [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
        assert len(servers) == 2
        # Fresh connections land on both processes; each answers, none refuses.
        codes = {httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=5).status_code for _ in range(20)}
        assert codes == {200}
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/packages", timeout=5).status_code == 401
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    # Every server process ends with the group (uvicorn finishes its graceful shutdown first).
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{c}").exists() for c in servers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(Path(f"/proc/{c}").exists() for c in servers)
