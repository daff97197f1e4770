"""`dataset create --from-search` with event terms takes frames only inside the events' windows."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.data.drives import S, camera_times, random_drive, write_drive
from toolkit.cli.main import app
from toolkit.data.api import add_bags, init_repo, search
from toolkit.datasets import manifest as mf


def test_frames_come_only_from_event_windows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = init_repo(tmp_path / "data")
    drive = random_drive(31, 1_735_689_600 * S, duration_s=90)
    write_drive(drive, data.root / "bags" / "drive.bag", "ros1", camera=True)
    assert add_bags(data, [data.root / "bags" / "drive.bag"]).added
    hits = search(data.catalog, "event:hard_brake").results[0].events
    data.close()
    assert hits
    windows = [(h.start_ns - S, h.end_ns + S) for h in hits]
    want = sorted(int(t) for t in camera_times(drive) if any(a <= t <= b for a, b in windows))
    monkeypatch.chdir(data.root)
    r = CliRunner().invoke(
        app, ["dataset", "create", "brakes", "--from-search", "event:hard_brake", "--pad", "1s", "--json"]
    )
    assert r.exit_code == 0, r.output
    manifest = mf.read(data.root / "datasets" / "brakes")
    assert sorted(f.timestamp_ns for f in manifest.frames) == want
    assert len(want) < len(camera_times(drive)) / 4  # far fewer than the whole bag's frames
