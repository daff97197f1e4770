"""A real Label Studio server (PyPI `label-studio` in its own .venv-labelstudio), once per test session.

Label Studio pins Django and many libraries, so it never shares the main
virtualenv: scripts/label-studio-venv.sh creates .venv-labelstudio (about
2 minutes here). A fresh data directory needs about 2 minutes of Django
migrations, so the first session migrates a template data dir once (kept
in .venv-labelstudio/) and every session starts from a copy (about 20 s).

The user and its API token come from LABEL_STUDIO_USERNAME/PASSWORD/
USER_TOKEN. Label Studio >= 1.20 disables such legacy tokens per
organization by default; the fixture logs in once as that user and turns
them on through /api/jwt/settings, as an admin would in the UI.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.services import free_port, wait_healthy

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("PITLANE_LABELSTUDIO_VENV", REPO_ROOT / ".venv-labelstudio"))
TEMPLATE = VENV / "pitlane-template-data"
USERNAME = "annotator@pitlane.local"
PASSWORD = "pitlane-annotator-pass"
TOKEN = "5f0c3a1e9b7d4c2a8e6f1b3d5c7a9e0f2b4d6c8a"
START_TIMEOUT_S = 600  # a fresh data dir migrates for ~2-4 min on a busy 2-core machine


@dataclass(frozen=True)
class LabelStudioServer:
    url: str
    token: str
    document_root: Path
    username: str
    password: str


def ensure_venv() -> Path:
    """The venv from locks/labelstudio.txt; the script returns at once when the venv matches the lock."""
    subprocess.run(["bash", str(REPO_ROOT / "scripts" / "label-studio-venv.sh")], check=True, timeout=1800)
    return VENV / "bin" / "label-studio"


def _start(data_dir: Path, document_root: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "LABEL_STUDIO_USERNAME": USERNAME,
        "LABEL_STUDIO_PASSWORD": PASSWORD,
        "LABEL_STUDIO_USER_TOKEN": TOKEN,
        "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
        "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(document_root),
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
        "COLLECT_ANALYTICS": "false",
    }
    out = log.open("ab")
    proc = subprocess.Popen(
        [
            str(ensure_venv()),
            "start",
            "--no-browser",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
        ],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    if wait_healthy(f"{url}/health", proc, START_TIMEOUT_S, interval_s=1):
        return proc, url
    if proc.poll() is not None:
        raise RuntimeError(f"label-studio exited with {proc.returncode}; see {log}")
    _stop(proc)
    raise RuntimeError(f"label-studio did not answer /health within {START_TIMEOUT_S}s; see {log}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def enable_legacy_tokens(url: str) -> None:
    """Log in with the form (as a browser would) and allow legacy API tokens for the organization."""
    with httpx.Client(base_url=url, timeout=30) as c:
        c.get("/user/login/")
        r = c.post(
            "/user/login/",
            data={"email": USERNAME, "password": PASSWORD, "csrfmiddlewaretoken": c.cookies.get("csrftoken", "")},
            headers={"Referer": f"{url}/user/login/"},
        )
        if r.status_code not in (200, 302):
            raise RuntimeError(f"label-studio login failed: {r.status_code}")
        r = c.post(
            "/api/jwt/settings",
            json={"api_tokens_enabled": True, "legacy_api_tokens_enabled": True},
            headers={"X-CSRFToken": c.cookies.get("csrftoken", ""), "Referer": f"{url}/"},
        )
        r.raise_for_status()
    check = httpx.get(f"{url}/api/current-user/whoami", headers={"Authorization": f"Token {TOKEN}"}, timeout=30)
    check.raise_for_status()


def _template(tmp: Path) -> Path:
    """A migrated data dir with the user and token in place (made once, then copied)."""
    if (TEMPLATE / "label_studio.sqlite3").exists():
        return TEMPLATE
    work = VENV / "pitlane-template-data.partial"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    proc, url = _start(work, tmp, tmp / "labelstudio-template.log")
    try:
        enable_legacy_tokens(url)
    finally:
        _stop(proc)
    work.replace(TEMPLATE)
    return TEMPLATE


@contextmanager
def _setup_lock() -> Iterator[None]:
    """Test sessions running side by side must not build the venv or the template at the same time."""
    lock = REPO_ROOT / ".venv-labelstudio.lock"
    with lock.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def labelstudio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudioServer]:
    base = tmp_path_factory.mktemp("labelstudio")
    data_dir = base / "data"
    document_root = base / "files"
    document_root.mkdir()
    with _setup_lock():
        ensure_venv()
        shutil.copytree(_template(base), data_dir)
    proc, url = _start(data_dir, document_root, base / "labelstudio.log")
    try:
        enable_legacy_tokens(url)  # idempotent; also proves the token works on this copy
        yield LabelStudioServer(url, TOKEN, document_root, USERNAME, PASSWORD)
    finally:
        _stop(proc)
