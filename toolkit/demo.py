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
        "GIT_AUTHOR_NAME": os.environ.get("GIT_AUTHOR_NAME", "Pitlane Demo"),
        "GIT_AUTHOR_EMAIL": os.environ.get("GIT_AUTHOR_EMAIL", "demo@pitlane.local"),
        "GIT_COMMITTER_NAME": os.environ.get("GIT_COMMITTER_NAME", "Pitlane Demo"),
        "GIT_COMMITTER_EMAIL": os.environ.get("GIT_COMMITTER_EMAIL", "demo@pitlane.local"),
    }
    for var in ("PITLANE_REGISTRY_URL", "PITLANE_TOKEN", "PITLANE_DATABASE_URL"):
        env.pop(var, None)
    return Demo(out=out, env=env)


def main() -> None:
    out = Path(os.environ.get("PITLANE_DEMO_DIR", ROOT / "demo-out")).resolve()
    demo = make_demo(out)
    demo.section("Pitlane demo")
    console.print(f"working in {out}")
    demo.pitlane("--help")


if __name__ == "__main__":
    main()
