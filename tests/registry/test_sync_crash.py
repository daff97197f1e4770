"""kill -9 a running sync at random moments: every version in the database stays complete.

The sync runs as a real subprocess (`python -m registry.sync`) on a real
SQLite file; the test waits until it has settled a random number of further
tags, then SIGKILLs it, checks the invariants, and repeats.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pygit2
import pytest
from sqlalchemy import func, select

from registry.core.db import Database
from registry.core.migrate import upgrade
from registry.models import AuditEvent, PackageFile, PackageVersion
from registry.models_links import SyncedTag, VersionDep
from registry.services import access
from registry.services import packages as pkgs
from registry.services.audit import verify_chain
from registry.services.remotes import register_remote
from tests.release.experiment import copy_experiment
from toolkit.release.release import release

VERSIONS = 60
TRIALS = 5


def _make_tags(exp_path: Path, template_message: str) -> None:
    """Many real annotated version tags (with valid manifests) on the released commit."""
    repo = pygit2.Repository(str(exp_path))
    sig = pygit2.Signature("CI", "ci@pitlane.local")
    head = repo.head.target
    for i in range(VERSIONS):
        version = f"v2.0.{i}"
        message = template_message.replace('"v1.0.0"', f'"{version}"').replace("detector@v1.0.0", f"detector@{version}")
        repo.create_tag(f"detector@{version}", head, pygit2.enums.ObjectType.COMMIT, sig, message)
    repo.create_tag("detector#staging#1", head, pygit2.enums.ObjectType.COMMIT, sig, '{"version": "v2.0.7"}\n')


def _settled(db_file: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("select count(*) from synced_tags").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def _check_complete(db: Database) -> int:
    with db.transaction(write=False) as s:
        versions = s.execute(select(PackageVersion)).scalars().all()
        for v in versions:
            assert len(v.files) == 2, v.version
            files = s.execute(select(func.count()).select_from(PackageFile).where(PackageFile.version_id == v.id))
            assert files.scalar_one() == 2
            deps = s.execute(select(func.count()).select_from(VersionDep).where(VersionDep.version_id == v.id))
            assert deps.scalar_one() > 0, f"{v.version} has no lineage"
            tag = s.execute(select(SyncedTag).where(SyncedTag.name == v.tag)).scalar_one()
            assert tag.outcome == "version"
        publish_events = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "version.publish")
        assert s.execute(publish_events).scalar_one() == len(versions)
        settled_versions = s.execute(
            select(func.count()).select_from(SyncedTag).where(SyncedTag.outcome == "version")
        ).scalar_one()
        assert settled_versions == len(versions)  # no settled tag without its version, and vice versa
        report = verify_chain(s)
        assert report.ok, report.reason
        return len(versions)


def test_sigkill_at_random_moments_leaves_only_complete_versions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The poller and this process append to one audit chain: they share its key, as a server's processes do.
    monkeypatch.setenv("PITLANE_AUDIT_KEY", "sync-crash-test-key")
    exp = copy_experiment(tmp_path)
    first = release("detector", "1.0.0", repo=exp.path)
    _make_tags(exp.path, first.manifest.to_message())
    exp.git("push", "-q", "origin", "--tags")
    db_file = tmp_path / "registry.db"
    db = Database(f"sqlite:///{db_file}")
    upgrade(db.engine)
    admin = pkgs.system_principal("test-admin")
    with db.transaction() as s:
        access.create_project(s, admin, "perception")
        register_remote(s, admin, "perception", str(exp.remote))
    env = {**os.environ, "PITLANE_HOME": str(tmp_path / "home"), "PITLANE_DATABASE_URL": f"sqlite:///{db_file}"}
    rng = random.Random(int(os.environ.get("PITLANE_TEST_SEED", "7")))
    kills = 0
    for _ in range(TRIALS):
        before = _settled(db_file)
        if before >= VERSIONS + 2:
            break
        proc = subprocess.Popen(
            [sys.executable, "-m", "registry.sync"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        target = before + rng.randint(1, 10)
        deadline = time.monotonic() + 120
        while proc.poll() is None and _settled(db_file) < target and time.monotonic() < deadline:
            time.sleep(rng.uniform(0.0, 0.02))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        _check_complete(db)
    assert kills >= 3, "the sync finished before the test could kill it"
    done = subprocess.run([sys.executable, "-m", "registry.sync"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert _check_complete(db) == VERSIONS + 1
    with db.transaction(write=False) as s:
        assert s.execute(select(func.count()).select_from(SyncedTag)).scalar_one() == VERSIONS + 2
    db.dispose()
