"""`pitlane data info`: human summary and --json from the index; one-line errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import typer
from typer.testing import CliRunner

from tests.bags.truth import BAGS
from toolkit.cli.bags_info import add_info_command
from toolkit.cli.main import app

runner = CliRunner()


def test_info_json_is_one_document() -> None:
    result = runner.invoke(app, ["data", "info", str(BAGS / "sensors/husky_gps_imu.bag"), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["format"] == "ros1"
    assert doc["message_count"] == 16806
    assert {t["name"]: t["count"] for t in doc["topics"]}["/fix"] == 989
    assert doc["gnss"]["topic"] == "/fix"
    assert len(doc["md5"]) == 32


def test_info_human_output(tmp_path: Path) -> None:
    bag = tmp_path / "drive.bag"
    shutil.copy(BAGS / "sensors/husky_gps_imu.bag", bag)
    (tmp_path / "drive.bag.pitlane.yaml").write_text("vehicle: husky-1\n")
    result = runner.invoke(app, ["data", "info", str(bag), "--no-hash"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    for expected in ("format:", "ros1", "messages:", "16806", "bz2", "/imu/data", "sensor_msgs/msg/Imu", "11865"):
        assert expected in out
    assert "gnss:" in out and "42.3" in out
    assert "tag vehicle: husky-1" in out
    assert "md5:" not in out


def test_info_reports_scan_and_undecodable(tmp_path: Path) -> None:
    cut = tmp_path / "cut.bag"
    cut.write_bytes((BAGS / "ros1/turtlesim_example.bag").read_bytes()[:500_000])
    result = runner.invoke(app, ["data", "info", str(cut)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "indexed by scan" in result.stdout and "warning:" in result.stdout
    velo = runner.invoke(app, ["data", "info", str(BAGS / "sensors/velodyne_vlp16_packets")], env={"COLUMNS": "200"})
    assert velo.exit_code == 0 and "velodyne_msgs/msg/VelodyneScan" in velo.stdout and " no " in velo.stdout


def test_info_errors_are_one_line(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["data", "info", str(tmp_path / "missing.bag")])
    assert missing.exit_code == 3
    assert missing.stderr.strip().startswith("error:") and missing.stderr.count("\n") == 1
    junk = tmp_path / "junk.txt"
    junk.write_text("not a bag")
    bad = runner.invoke(app, ["data", "info", str(junk), "--json"])
    assert bad.exit_code == 1 and bad.stdout == ""
    assert "unknown bag format" in bad.stderr and "Traceback" not in bad.output


def test_add_info_command_attaches_to_any_group() -> None:
    group = typer.Typer()
    group.callback()(lambda: None)
    add_info_command(group)
    result = runner.invoke(group, ["info", str(BAGS / "mcap/cdr_test"), "--json", "--no-hash"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["md5"] == ""
