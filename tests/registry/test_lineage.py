"""Lineage end to end through the CLI on the embedded registry: sync -> firmware -> deploy -> trace."""

from __future__ import annotations

import json
import time
from pathlib import Path

from typer.testing import CliRunner

from tests.release.experiment import SECOND_BAG, copy_experiment, md5
from toolkit.cli.main import app
from toolkit.release.release import release

runner = CliRunner()


def cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, f"{args}: {result.output}"
    return result.stdout


def test_trace_walks_vehicle_to_source_bags_and_back(tmp_path: Path) -> None:
    exp = copy_experiment(tmp_path)
    rel = release("detector", "1.0.0", repo=exp.path, channel="staging")
    cli("access", "project", "create", "perception")
    remote = json.loads(cli("remote", "add", "perception", str(exp.remote), "--json"))
    report = json.loads(cli("remote", "sync", str(remote["id"]), "--json"))
    assert report["versions"] == ["perception/detector@v1.0.0"] and report["errors"] == []
    ev = json.loads(
        cli(
            "eval",
            "add",
            "detector@staging",
            "--suite",
            "closed-course",
            "--passed",
            "40",
            "--failed",
            "0",
            "--metrics",
            '{"mAP": 0.7}',
            "--json",
        )
    )
    assert (ev["version"], ev["verdict"], ev["total"]) == ("v1.0.0", "pass", 40)
    cli("firmware", "add", "adas@2025.11.0", "--project", "perception", "-p", "perception/detector@v1.0.0")
    cli("deploy", "record", "odaiba-3", "adas@2025.11.0", "--site", "odaiba")

    started = time.perf_counter()
    out = json.loads(cli("trace", "vehicle:odaiba-3", "--json"))
    elapsed = time.perf_counter() - started
    assert [v["vehicle"] for v in out["vehicles"]] == ["odaiba-3"]
    assert [f"{f['name']}@{f['version']}" for f in out["firmware"]] == ["adas@2025.11.0"]
    (pkg,) = out["packages"]
    assert (pkg["package"], pkg["version"], pkg["commit"]) == ("detector", "v1.0.0", rel.manifest.commit)
    assert pkg["run"]["sha256"] == rel.manifest.run.sha256
    assert pkg["evaluations"][0]["suite"] == "closed-course"
    assert {"path": "data/slices/slice_a.bag", "md5": exp.slice_md5, "stage": "train"} in pkg["deps"]
    assert {
        "slice_path": "data/slices/slice_a.bag",
        "slice_md5": exp.slice_md5,
        "source_path": "data/bags/fake_sensors_sample.bag",
        "source_md5": exp.source_bag_md5,
    } in pkg["bags"]
    # The run record's dataset lives in a data repo; its slice sidecar there names the source bag.
    assert f"{exp.data_repo}:slices/drive_b_0-5s.bag" in [b["slice_path"] for b in pkg["bags"]]
    assert out["source_bags"] == sorted([exp.source_bag_md5, md5(SECOND_BAG)])
    assert elapsed < 5  # answered from the database (CLI start-up included), not from Git or DVC

    back = json.loads(cli("trace", f"bag:{exp.source_bag_md5}", "--json"))
    assert [v["vehicle"] for v in back["vehicles"]] == ["odaiba-3"]
    assert [p["version"] for p in back["packages"]] == ["v1.0.0"]
    short = json.loads(cli("trace", f"bag:{exp.source_bag_md5[:10]}", "--json"))
    assert short["vehicles"] == back["vehicles"]

    human = runner.invoke(app, ["trace", "vehicle:odaiba-3"])
    assert human.exit_code == 0
    assert "source bag data/bags/fake_sensors_sample.bag" in human.stdout
    assert exp.source_bag_md5 in human.stdout

    for args, code, message in [
        (["trace", "robot:1"], 1, "invalid trace subject"),
        (["trace", "bag:zzzz"], 1, "invalid bag hash"),
        (["trace", "bag:" + "0" * 32], 3, "no package version was built from bag"),
        (["trace", "firmware:none@1"], 3, "firmware none@1 not found"),
        (["deploy", "record", "odaiba-3", "nofirmware"], 1, "invalid firmware reference"),
        (["deploy", "record", "odaiba-3", "none@1"], 3, "not found"),
        (
            ["firmware", "add", "adas@2025.11.0", "--project", "perception", "-p", "perception/detector@v1.0.0"],
            5,
            "already exists",
        ),
        (["eval", "add", "detector@v9", "--suite", "s", "--passed", "1", "--failed", "0"], 3, "not found"),
        (
            ["eval", "add", "detector@v1.0.0", "--suite", "s", "--passed", "1", "--failed", "0", "--metrics", "{"],
            1,
            "metrics are not JSON",
        ),
    ]:
        result = runner.invoke(app, args)
        assert result.exit_code == code, (args, result.output)
        assert message in result.stderr and "Traceback" not in result.output
