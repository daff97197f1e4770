"""`make demo`: the whole Pitlane loop, end to end, on the bundled real bags.

Runs the real `pitlane` CLI as a user would (each step is a subprocess), in
`demo-out/` with its own PITLANE_HOME so it never touches the user's data.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_BAGS = ROOT / "tests" / "fixtures" / "bags"
console = Console(highlight=False)


@dataclass
class Demo:
    out: Path
    env: dict[str, str] = field(default_factory=dict)
    timings: list[tuple[str, float]] = field(default_factory=list)

    def pitlane(self, *args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        exe = str(Path(sys.executable).parent / "pitlane")
        return self.sh([exe, *args], cwd=cwd, check=check)

    def sh(self, argv: list[str], cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        shown = " ".join(shlex.quote(a) for a in ["pitlane", *argv[1:]] if a) if argv[0].endswith(
            "pitlane"
        ) else " ".join(shlex.quote(a) for a in argv)
        console.print(f"[bold cyan]$ {shown}[/]")
        start = time.monotonic()
        proc = subprocess.run(argv, cwd=cwd or self.out, env=self.env, text=True, capture_output=True)
        self.timings.append((shown, time.monotonic() - start))
        if proc.stdout.strip():
            console.print(proc.stdout.rstrip(), markup=False)
        if proc.stderr.strip():
            console.print(proc.stderr.rstrip(), style="dim", markup=False)
        if check and proc.returncode != 0:
            raise SystemExit(f"demo step failed (exit {proc.returncode}): {shown}")
        return proc

    def section(self, title: str) -> None:
        console.print(Rule(f"[bold]{title}"))


def make_demo(out: Path) -> Demo:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    env = {
        **os.environ,
        "PITLANE_HOME": str(out / "pitlane-home"),
        "DVC_NO_ANALYTICS": "1",
        "COLUMNS": os.environ.get("COLUMNS", "150"),
        "GIT_AUTHOR_NAME": os.environ.get("GIT_AUTHOR_NAME", "Pitlane Demo"),
        "GIT_AUTHOR_EMAIL": os.environ.get("GIT_AUTHOR_EMAIL", "demo@pitlane.local"),
        "GIT_COMMITTER_NAME": os.environ.get("GIT_COMMITTER_NAME", "Pitlane Demo"),
        "GIT_COMMITTER_EMAIL": os.environ.get("GIT_COMMITTER_EMAIL", "demo@pitlane.local"),
    }
    for var in ("PITLANE_REGISTRY_URL", "PITLANE_TOKEN", "PITLANE_DATABASE_URL"):
        env.pop(var, None)
    return Demo(out=out, env=env)


def data_search(demo: Demo) -> Path:
    """Issue 5: ingest real bags, search them twice, cut a slice with lineage."""
    demo.section("1. Data search: ingest, search, slice")
    data = demo.out / "data"
    demo.pitlane("data", "init", str(data), "--remote", str(demo.out / "dvc-remote" / "data"))
    broken = demo.out / "incoming" / "truncated_drive.bag"
    broken.parent.mkdir(parents=True)
    source = FIXTURE_BAGS / "sensors" / "husky_gps_imu.bag"
    broken.write_bytes(source.read_bytes()[: source.stat().st_size // 3])
    garbage = demo.out / "incoming" / "not_a_bag.bag"
    garbage.write_bytes(b"#ROSBAG V2.0\n" + bytes(range(256)) * 8)
    # One bad bag in the batch: it is reported in one line and the others are still ingested.
    demo.pitlane(
        "data", "add", "--copy", "-t", "vehicle=odaiba-3",
        str(FIXTURE_BAGS / "sensors"), str(FIXTURE_BAGS / "ros1" / "turtlesim_example.bag"),
        str(FIXTURE_BAGS / "mcap" / "cdr_test"), str(FIXTURE_BAGS / "ros2_sqlite3" / "wbag_split5"),
        str(broken), str(garbage),
        cwd=data, check=False,
    )
    demo.pitlane("data", "tag", "bags/sensors/husky_gps_imu.bag", "weather=rain", "route=campus-loop", cwd=data)
    demo.pitlane("data", "search", "type:sensor_msgs/msg/NavSatFix near:42.3758,-71.1474,1km", cwd=data)
    demo.pitlane("data", "search", "topic:/spot/* duration<60", cwd=data)
    demo.pitlane(
        "data", "slice", "bags/sensors/husky_gps_imu.bag", "--start", "+60s", "--end", "+120s",
        "--topics", "/fix", "--topics", "/imu/data", "--format", "mcap", "-o", "slices/husky_rain_1min.mcap",
        cwd=data,
    )
    demo.pitlane(
        "data", "slice", "bags/sensors/spot_cameras_raw.bag", "--topics", "/spot/*", "-o", "slices/spot_cams.bag",
        cwd=data,
    )
    demo.pitlane("data", "lineage", "slices/spot_cams.bag", cwd=data)
    demo.pitlane("data", "push", cwd=data)
    return data


def git_head(repo: Path) -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


def main() -> None:
    out = Path(os.environ.get("PITLANE_DEMO_DIR", ROOT / "demo-out")).resolve()
    demo = make_demo(out)
    demo.section("Pitlane demo")
    console.print(f"working in {out}")
    data_search(demo)


if __name__ == "__main__":
    main()
