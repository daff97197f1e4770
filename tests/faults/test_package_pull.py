"""`pitlane package pull` killed at every file, or into a full disk: nothing partial, the rerun completes.

The embedded registry (PITLANE_HOME's database) serves a published package; the
pull runs forked like the data commands (tests/faults/harness.py).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import mounted_tmpfs
from tests.faults import harness as h
from tests.faults.conftest import KILLS
from toolkit.cli.main import app
from toolkit.client import connect

runner = CliRunner()
FILES = {f"weights/part{i}.bin": os.urandom(3000 + i) for i in range(6)} | {"config.yaml": b"lr: 1\n"}


def _publish(tmp_path: Path, files: dict[str, bytes]) -> None:
    blobs = tmp_path / "blobs"
    blobs.mkdir(exist_ok=True)
    entries = []
    for i, (path, content) in enumerate(sorted(files.items())):
        blob = blobs / f"{i}.bin"
        blob.write_bytes(content)
        entries.append({"path": path, "md5": hashlib.md5(content).hexdigest(), "size": len(content), "url": str(blob)})
    with connect() as client:
        client.create_project("perception")
        client.publish("perception", "detector", "v1", entries)


def _files(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def _litter(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".partial-" in p.name)


def test_pull_killed_at_every_file_then_rerun(tmp_path: Path) -> None:
    _publish(tmp_path, FILES)
    work = tmp_path / "work"
    work.mkdir()
    args = ["package", "pull", "detector@v1", "-o", "pkg"]
    res, points = h.trace(args, work)
    assert res.rc == 0, res.err
    assert _files(work / "pkg") == FILES
    assert [p[0] for p in points].count("pull.file") == len(FILES)
    for i, point in enumerate(points):
        here = tmp_path / f"k{i}"
        here.mkdir()
        killed = h.kill_at(args, here, point)
        assert killed.rc == h.KILLED, killed.err
        KILLS["package pull"] += 1
        again = h.run(args, here)
        assert again.rc == 0, again.err
        assert _files(here / "pkg") == FILES
        assert _litter(here) == []  # the killed run's .pkg.partial-PID went with the rerun
    rerun = h.run(args, work)  # a finished pull pulled again: the same files, no error
    assert rerun.rc == 0, rerun.err
    assert _files(work / "pkg") == FILES


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    with mounted_tmpfs(tmp_path / "fs", "64k") as mnt:
        yield mnt


def test_pull_into_a_full_disk_then_after_freeing_space(tmp_path: Path, small_fs: Path) -> None:
    big = {"weights/model.bin": os.urandom(200_000), "config.yaml": b"lr: 1\n"}
    _publish(tmp_path, big)
    out = small_fs / "pkg"
    r = runner.invoke(app, ["package", "pull", "detector@v1", "-o", str(out)])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert r.stderr.strip().splitlines() == [
        f"error: pull detector@v1 into {out}: no space left on device; nothing was written"
    ]
    assert list(small_fs.iterdir()) == []  # no partial output, no work folder

    subprocess.run(["mount", "-o", "remount,size=1m", str(small_fs)], check=True)  # space freed
    r = runner.invoke(app, ["package", "pull", "detector@v1", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert _files(out) == big
