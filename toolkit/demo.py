"""`make demo`: the whole Pitlane loop, end to end, on the bundled real bags.

Runs the real `pitlane` CLI as a user would (each step is a subprocess), in
`demo-out/` with its own PITLANE_HOME so it never touches the user's data.
"""

from __future__ import annotations

import contextlib
import json
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
        shown = (
            " ".join(shlex.quote(a) for a in ["pitlane", *argv[1:]] if a)
            if argv[0].endswith("pitlane")
            else " ".join(shlex.quote(a) for a in argv)
        )
        console.print(f"[bold cyan]$ {shown}[/]")
        start = time.monotonic()
        proc = subprocess.run(argv, cwd=cwd or self.out, env=self.env, text=True, capture_output=True)
        self.timings.append((shown, time.monotonic() - start))
        # Child output is already laid out for the terminal: pass it through untouched.
        if proc.stdout.strip():
            sys.stdout.write(proc.stdout.rstrip() + "\n")
        if proc.stderr.strip():
            lines = proc.stderr.rstrip().splitlines()
            shown_lines = lines if proc.returncode != 0 or len(lines) <= 12 else ["...", *lines[-12:]]
            console.print("\n".join(shown_lines), style="dim", markup=False)
        sys.stdout.flush()
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
        # dvc and pitlane from this venv, as in an activated one.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
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
        "data",
        "add",
        "--copy",
        "-t",
        "vehicle=odaiba-3",
        str(FIXTURE_BAGS / "sensors"),
        str(FIXTURE_BAGS / "ros1" / "turtlesim_example.bag"),
        str(FIXTURE_BAGS / "mcap" / "cdr_test"),
        str(FIXTURE_BAGS / "ros2_sqlite3" / "wbag_split5"),
        str(broken),
        str(garbage),
        cwd=data,
        check=False,
    )
    demo.pitlane("data", "tag", "bags/sensors/husky_gps_imu.bag", "weather=rain", "route=campus-loop", cwd=data)
    demo.pitlane("data", "search", "type:sensor_msgs/msg/NavSatFix near:42.3758,-71.1474,1km", cwd=data)
    demo.pitlane("data", "search", "topic:/spot/* duration<60", cwd=data)
    demo.pitlane(
        "data",
        "slice",
        "bags/sensors/husky_gps_imu.bag",
        "--start",
        "+60s",
        "--end",
        "+120s",
        "--topics",
        "/fix",
        "--topics",
        "/imu/data",
        "--format",
        "mcap",
        "-o",
        "slices/husky_rain_1min.mcap",
        cwd=data,
    )
    demo.pitlane(
        "data",
        "slice",
        "bags/sensors/spot_cameras_raw.bag",
        "--topics",
        "/spot/*",
        "-o",
        "slices/spot_cams.bag",
        cwd=data,
    )
    demo.pitlane("data", "lineage", "slices/spot_cams.bag", cwd=data)
    # Issue 18: the minutes, not only the bags: events derived at ingest, searched and sliced.
    demo.pitlane("data", "search", "event:stop vehicle:odaiba-3", cwd=data)
    demo.pitlane(
        "data",
        "slice",
        "--from-search",
        "event:stop path:bags/sensors/*",
        "--pad",
        "2s",
        "--topics",
        "/imu/data",
        "-o",
        "slices/stops",
        cwd=data,
    )
    demo.pitlane("data", "fleet", "--by", "vehicle", cwd=data)
    demo.pitlane("data", "push", cwd=data)
    return data


def experiment(demo: Demo, data: Path) -> Path:
    """Issue 2: an experiment from the template, trained on data pinned in the data repo."""
    demo.section("2. Experiment: build -> process -> train, cached, resumable, recorded")
    exp = demo.out / "camera-classifier"
    demo.pitlane("init", str(exp), "--name", "camera-classifier")
    pipeline = ROOT / "pipelines" / "camera_classifier"
    for source in sorted((pipeline / "conf").rglob("*.yaml")):
        target = exp / "conf" / source.relative_to(pipeline / "conf")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    # Datasets are DVC references pinned to a commit of the data repo: the run record can trace them.
    rev = git_head(data)
    (exp / "conf" / "data" / "default.yaml").write_text(
        "# @package _global_\n"
        "datasets:\n"
        f"  spot_raw:\n    repo: {data}\n    rev: {rev}\n    path: slices/spot_cams.bag\n"
        f"  spot_compressed:\n    repo: {data}\n    rev: {rev}\n    path: bags/sensors/spot_cameras_compressed.bag\n"
    )
    demo.pitlane("compose", cwd=exp)
    demo.sh(["git", "add", "-A"], cwd=exp)
    demo.sh(["git", "commit", "-qm", "camera classifier on data repo slices"], cwd=exp)
    demo.sh(["git", "remote", "add", "origin", str(bare_remote(demo, "camera-classifier"))], cwd=exp)
    demo.sh(["dvc", "remote", "add", "-d", "storage", str(demo.out / "dvc-remote" / "experiments")], cwd=exp)
    demo.pitlane("run", cwd=exp)
    demo.pitlane("runs", cwd=exp)

    console.print("[bold]Change one train setting: build and process are reused, only train reruns[/]")
    demo.pitlane("run", "-S", "trainer.lr=0.002", cwd=exp)

    console.print("[bold]Interrupt a longer training (SIGKILL after its first checkpoint), then resume[/]")
    interrupted_training(demo, exp, ["-S", "trainer.max_steps=300"])
    demo.pitlane("run", "--resume", "-S", "trainer.max_steps=300", cwd=exp)
    demo.pitlane("runs", "show", "workspace", cwd=exp)
    demo.sh(["git", "add", "-A"], cwd=exp)
    demo.sh(["git", "commit", "-qm", "train 300 steps"], cwd=exp)
    demo.sh(["git", "push", "-q", "origin", "HEAD:main"], cwd=exp)
    return exp


def release_and_consume(demo: Demo, exp: Path) -> None:
    """Issue 6: a Git tag becomes a package; a second project pulls it; evidence and lineage."""
    demo.section("3. Release: tag -> registry package -> pulled by another project -> traced")
    demo.pitlane("release", "camera-classifier", "1.0.0", "--channel", "staging", cwd=exp)
    demo.pitlane("access", "project", "create", "perception")
    remote = json.loads(
        demo.pitlane("remote", "add", "perception", str(demo.out / "git" / "camera-classifier.git"), "--json").stdout
    )
    demo.pitlane("remote", "sync", str(remote["id"]))
    demo.pitlane("package", "show", "perception/camera-classifier")

    console.print("[bold]A user of another project (planning) gets read access and pulls by channel[/]")
    demo.pitlane("access", "project", "create", "planning")
    demo.pitlane("access", "user", "create", "paula")
    demo.pitlane("access", "grant", "developer", "--user", "paula", "--project", "planning")
    demo.pitlane("access", "grant", "viewer", "--package", "perception/camera-classifier", "--project", "planning")
    paula = json.loads(demo.pitlane("token", "create", "paula-laptop", "--user", "paula", "--json").stdout)["token"]
    consumer = demo.out / "planning-consumer"
    consumer.mkdir()
    as_paula = {**demo.env, "PITLANE_TOKEN": paula}
    saved, demo.env = demo.env, as_paula
    try:
        demo.pitlane("package", "pull", "perception/camera-classifier@staging", "-o", "models", cwd=consumer)
    finally:
        demo.env = saved

    console.print("[bold]CI evidence: a simulation run, a firmware image, a vehicle deployment[/]")
    demo.pitlane(
        "eval",
        "add",
        "perception/camera-classifier@staging",
        "--suite",
        "sim-night-rain",
        "--passed",
        "118",
        "--failed",
        "2",
        "--verdict",
        "pass",
        "--metrics",
        '{"recall": 0.93}',
        "--ci-run-url",
        "https://ci.example/runs/42",
    )
    demo.pitlane(
        "firmware", "add", "adas@2026.11.0", "--project", "perception", "-p", "perception/camera-classifier@v1.0.0"
    )
    demo.pitlane("deploy", "record", "odaiba-3", "adas@2026.11.0", "--site", "odaiba")
    demo.pitlane("trace", "vehicle:odaiba-3")


def annotation(demo: Demo, data: Path) -> None:
    """Issue 4: frames from a search, auto-labelled by the released package, exported for Label Studio."""
    demo.section("4. Annotation: dataset from a search, auto-labelled by the released model")
    demo.pitlane("dataset", "create", "spot-frames", "--from-search", "topic:/spot/*", "--topics", "/spot/*", cwd=data)
    demo.pitlane("autolabel", "spot-frames", "--model", "perception/camera-classifier@staging", cwd=data)
    demo.pitlane("dataset", "stats", "spot-frames", cwd=data)
    demo.pitlane(
        "dataset",
        "export",
        "spot-frames",
        "-f",
        "labelstudio",
        "-o",
        str(demo.out / "spot-frames.labelstudio.json"),
        cwd=data,
    )


def where_to_look(demo: Demo, data: Path, exp: Path, port: int) -> None:
    demo.section("Where to look")
    bag_id = demo.pitlane("data", "search", "--json", "weather:rain", cwd=data).stdout
    first = json.loads(bag_id)[0]["id"]
    base = f"http://127.0.0.1:{port}"
    web_token = json.loads(demo.pitlane("token", "create", "demo-web", "--json").stdout)["token"]
    console.print(
        f"Web UI:  PITLANE_HOME={demo.env['PITLANE_HOME']} PITLANE_DATA_REPO={data} .venv/bin/pitlane serve\n"
        f"         log in at {base}/login with the token {web_token}\n"
        f"         then open {base}/packages, {base}/data?q=weather:rain, {base}/data/bags/{first},\n"
        f"         {base}/datasets/spot-frames and {base}/trace?subject=vehicle:odaiba-3\n"
        f"Repos:   data repo {data}\n         experiment {exp} (`pitlane runs`, `dvc dag`, `cat run.json`)\n"
        f"Label Studio tasks: {demo.out / 'spot-frames.labelstudio.json'}"
    )
    timings = sorted(demo.timings, key=lambda t: -t[1])[:5]
    console.print("Slowest steps: " + "; ".join(f"{cmd.split(' -')[0]} {secs:.1f}s" for cmd, secs in timings))


def interrupted_training(demo: Demo, exp: Path, args: list[str]) -> None:
    exe = str(Path(sys.executable).parent / "pitlane")
    console.print(f"[bold cyan]$ pitlane run {' '.join(args)}   # killed mid-training[/]")
    proc = subprocess.Popen(
        [exe, "run", *args], cwd=exp, env=demo.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 600
    # The first checkpoint of this config appears after checkpoint_every_n_steps steps.
    before = set((exp / "checkpoints").rglob("*.ckpt")) if (exp / "checkpoints").exists() else set()
    while proc.poll() is None and time.monotonic() < deadline:
        now = set((exp / "checkpoints").rglob("*.ckpt")) if (exp / "checkpoints").exists() else set()
        if now - before:
            time.sleep(1.0)
            proc.kill()
            proc.wait()
            console.print(f"killed the training after {len(now - before)} new checkpoint file(s)")
            return
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("demo: the training finished before a checkpoint appeared; nothing to resume")


def bare_remote(demo: Demo, name: str) -> Path:
    remote = demo.out / "git" / f"{name}.git"
    remote.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    return remote


def git_head(repo: Path) -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


def main() -> None:
    out = Path(os.environ.get("PITLANE_DEMO_DIR", ROOT / "demo-out")).resolve()
    demo = make_demo(out)
    demo.section("Pitlane demo")
    console.print(f"working in {out}")
    data = data_search(demo)
    exp = experiment(demo, data)
    release_and_consume(demo, exp)
    annotation(demo, data)
    where_to_look(demo, data, exp, 8000)
    if sys.stdin.isatty() and os.environ.get("PITLANE_DEMO_SERVE", "1") == "1":
        console.print("Serving the web UI now (Ctrl-C stops it) ...")
        with contextlib.suppress(KeyboardInterrupt):
            subprocess.run(
                [str(Path(sys.executable).parent / "pitlane"), "serve", "--port", "8000"],
                env={**demo.env, "PITLANE_DATA_REPO": str(data)},
            )


if __name__ == "__main__":
    main()
