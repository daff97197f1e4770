"""`pitlane data ...` through Typer's CliRunner, on a real Git+DVC repo and the real fixture bags."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import BAGS
from toolkit.cli.main import app

runner = CliRunner()


def pitlane(*args: str, code: int = 0) -> tuple[str, str]:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result.stdout, result.stderr


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "données repo"
    pitlane("data", "init", str(root))
    return root


def test_add_search_tag_show_reindex_rm(repo: Path) -> None:
    bags = repo / "bags"
    shutil.copy2(BAGS / "ros1" / "turtlesim_example.bag", bags / "turtle sim.bag")
    shutil.copytree(BAGS / "ros2_sqlite3" / "cdr_test", bags / "cdr_test")
    shutil.copy2(BAGS / "sensors" / "husky_gps_imu.bag", bags / "husky.bag")
    (bags / "broken.mcap").write_bytes((BAGS / "mcap" / "bare_multiple_files_0.mcap").read_bytes()[:64])
    (bags / "empty.bag").write_bytes(b"")

    out, err = pitlane("data", "add", "--json", "-C", str(repo), str(bags), code=1)
    report = json.loads(out)
    assert sorted(a["path"] for a in report["added"]) == ["bags/cdr_test", "bags/husky.bag", "bags/turtle sim.bag"]
    assert sorted(Path(f["path"]).name for f in report["failed"]) == ["broken.mcap", "empty.bag"]
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2 and any("broken.mcap" in e for e in errors) and any("empty.bag" in e for e in errors)

    _, err = pitlane("data", "add", "-C", str(repo), str(bags / "husky.bag"))
    assert "already ingested" in err

    out, _ = pitlane("data", "search", "--json", "-C", str(repo), "type:turtlesim/Pose")
    [hit] = json.loads(out)
    assert hit["path"] == "bags/turtle sim.bag" and hit["format"] == "ros1" and hit["messages"] == 8647
    assert "/turtle1/pose" in hit["topics"] and hit["start"].startswith("2014-03-31T19:24:47")
    out, _ = pitlane("data", "search", "--json", "-C", str(repo), "near:42.3765,-71.1475,300m", "duration>5m")
    assert [r["path"] for r in json.loads(out)] == ["bags/husky.bag"]
    out, _ = pitlane("data", "search", "--json", "-C", str(repo), '"turtle sim"')
    assert [r["path"] for r in json.loads(out)] == ["bags/turtle sim.bag"]

    out, err = pitlane("data", "search", "--json", "-C", str(repo), "topic:/lidar/*")
    assert json.loads(out) == [] and "no bag has topic /lidar/*" in err
    out, err = pitlane("data", "search", "-C", str(repo), "colour:red", code=1)
    assert out == "" and err.count("\n") == 1 and err.startswith("error: unknown field 'colour'; valid fields:")
    _, err = pitlane("data", "search", "-C", str(repo), "duration>>5", code=1)
    assert err.startswith("error: duration")

    pitlane("data", "tag", "-C", str(repo), "bags/cdr_test", "weather=rain", "vehicle=odaiba-3")
    out, _ = pitlane("data", "search", "--json", "-C", str(repo), "weather:rain vehicle:odaiba-3")
    [hit] = json.loads(out)
    assert hit["path"] == "bags/cdr_test" and hit["tags"] == {"vehicle": "odaiba-3", "weather": "rain"}
    _, err = pitlane("data", "tag", "-C", str(repo), "bags/cdr_test", "novalue", code=1)
    assert err.strip() == "error: tag 'novalue' is not key=value"
    _, err = pitlane("data", "tag", "-C", str(repo), "bags/nope.bag", "a=b", code=3)
    assert err.startswith("error: no catalogued bag")

    out, _ = pitlane("data", "show", "--json", "-C", str(repo), hit["id"])
    shown = json.loads(out)
    assert shown["path"] == "bags/cdr_test" and shown["summary"]["message_count"] == 7

    (repo / ".pitlane" / "catalog.db").unlink()
    _, err = pitlane("data", "reindex", "-C", str(repo))
    assert "3 bags" in err
    out, _ = pitlane("data", "search", "--json", "-C", str(repo), "weather:rain")
    assert [r["path"] for r in json.loads(out)] == ["bags/cdr_test"]

    pitlane("data", "rm", "-C", str(repo), "bags/turtle sim.bag")
    out, _ = pitlane("data", "search", "--json", "-C", str(repo))
    assert sorted(r["path"] for r in json.loads(out)) == ["bags/cdr_test", "bags/husky.bag"]
    status = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True, check=True)
    assert sorted(status.stdout.splitlines()) == ["?? bags/broken.mcap", "?? bags/empty.bag"]


def test_slice_is_dvc_tracked_with_lineage(repo: Path) -> None:
    shutil.copy2(BAGS / "ros1" / "turtlesim_example.bag", repo / "bags" / "turtle.bag")
    pitlane("data", "add", "-C", str(repo), str(repo / "bags" / "turtle.bag"))
    out_bag = repo / "slices" / "turtle1 pose.mcap"
    out, _ = pitlane(
        "data",
        "slice",
        "--json",
        "-C",
        str(repo),
        "bags/turtle.bag",
        "--start",
        "+2s",
        "--end",
        "+5s",
        "--topics",
        "/turtle1/*",
        "--format",
        "mcap",
        "-o",
        str(out_bag),
    )
    [made] = json.loads(out)
    assert made["path"] == "slices/turtle1 pose.mcap"
    assert (repo / "slices" / "turtle1 pose.mcap.dvc").exists()
    assert (repo / "slices" / "turtle1 pose.mcap.lineage.json").exists()
    tracked = subprocess.run(["git", "ls-files", "slices"], cwd=repo, capture_output=True, text=True, check=True)
    assert sorted(tracked.stdout.splitlines()) == [
        "slices/.gitignore",
        "slices/turtle1 pose.mcap.dvc",
        "slices/turtle1 pose.mcap.lineage.json",
        "slices/turtle1 pose.mcap.pitlane.json",
        "slices/turtle1 pose.mcap.signals.parquet",  # /turtle1/cmd_vel (Twist) gives a speed series
    ]
    out, _ = pitlane("data", "search", "--json", "-C", str(repo), "format:mcap", "topic:/turtle1/pose")
    [hit] = json.loads(out)
    assert hit["path"] == "slices/turtle1 pose.mcap"
    assert all(t.startswith("/turtle1/") for t in hit["topics"])
    assert 2.5 < hit["duration_s"] <= 3.0

    out, _ = pitlane("data", "lineage", "--json", "-C", str(repo), "slices/turtle1 pose.mcap")
    chain = json.loads(out)
    assert [step["path"] for step in chain] == ["slices/turtle1 pose.mcap", "bags/turtle.bag"]
    assert chain[0]["lineage"]["source"]["md5"] == chain[1]["md5"]

    # --from-search slices every match into a directory, each with its own lineage.
    out, _ = pitlane(
        "data",
        "slice",
        "--json",
        "-C",
        str(repo),
        "--from-search",
        "format:ros1",
        "--end",
        "+1s",
        "-o",
        str(repo / "slices" / "first second"),
    )
    [made] = json.loads(out)
    assert made["path"] == "slices/first second/turtle.slice.bag"
    assert made["lineage"]["source_path"] == "bags/turtle.bag"

    _, err = pitlane(
        "data",
        "slice",
        "-C",
        str(repo),
        "bags/turtle.bag",
        "--start",
        "+500s",
        "-o",
        str(repo / "slices" / "late.bag"),
        code=1,
    )
    assert err.startswith("error: ") and err.count("\n") == 1
    assert not (repo / "slices" / "late.bag").exists() and not (repo / "slices" / "late.bag.dvc").exists()
    _, err = pitlane("data", "slice", "-C", str(repo), "bags/turtle.bag", "-o", "/tmp/outside.bag", code=1)
    assert "outside the data repo" in err
    status = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True, check=True)
    assert status.stdout == ""


def test_commands_outside_a_data_repo_say_so(tmp_path: Path) -> None:
    _, err = pitlane("data", "search", "-C", str(tmp_path), "x", code=3)
    assert err.startswith("error: ") and "not inside a pitlane data repo" in err


def test_split_size_makes_a_tracked_split_slice(repo: Path) -> None:
    shutil.copytree(BAGS / "sensors" / "velodyne_vlp16_packets", repo / "bags" / "lidar")
    pitlane("data", "add", "-C", str(repo), str(repo / "bags" / "lidar"))
    out, _ = pitlane(
        "data", "slice", "--json", "-C", str(repo), "bags/lidar", "--split-size", "128KiB", "-o", str(repo / "cut")
    )
    [made] = json.loads(out)
    files = sorted(p.name for p in (repo / "cut").glob("*.db3"))
    assert len(files) > 1 and files[0] == "cut_0.db3"
    shown, _ = pitlane("data", "show", "--json", "-C", str(repo), made["id"])
    source, _ = pitlane("data", "show", "--json", "-C", str(repo), "bags/lidar")
    assert json.loads(shown)["summary"]["message_count"] == json.loads(source)["summary"]["message_count"]
    assert (repo / "cut.dvc").exists()

    _, err = pitlane(
        "data", "slice", "-C", str(repo), "bags/lidar", "--split-size", "lots", "-o", str(repo / "x"), code=1
    )
    assert err.count("\n") == 1 and err.startswith("error: split size 'lots'")
    _, err = pitlane(
        "data", "slice", "-C", str(repo), "bags/lidar", "--split-size", "1KB", "-o", str(repo / "x"), code=1
    )
    assert "at least 64 KiB" in err and not (repo / "x").exists()
    _, err = pitlane("data", "slice", "-C", str(repo), "bags/lidar", "--split-size", "1MiB", "-o", str(repo / "c.mcap"))
    assert "c.mcap is mcap; --split-size splits only rosbag2 sqlite3 slices" in err
