"""Running one `run:` step: the shell, the GitHub command files and workflow commands in its output."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.errors import WorkflowError

# How GitHub invokes each `shell:` keyword; {0} is the script file.
SHELLS = {
    "bash": "bash --noprofile --norc -eo pipefail {0}",
    "sh": "sh -e {0}",
    "python": "python {0}",
    "pwsh": None,
    "powershell": None,
    "cmd": None,
}
_SUFFIX = {"python": ".py"}
_COMMAND = re.compile(r"^::([a-z-]+)(?: ([^:]*))?::(.*)$")


@dataclass
class CommandFiles:
    """GITHUB_OUTPUT, GITHUB_ENV, GITHUB_PATH and GITHUB_STEP_SUMMARY for one step."""

    output: Path
    env: Path
    path: Path
    summary: Path

    @classmethod
    def create(cls, directory: Path) -> CommandFiles:
        stem = uuid.uuid4().hex[:12]
        files = cls(*(directory / f"{stem}_{n}" for n in ("output", "env", "path", "summary")))
        for f in (files.output, files.env, files.path, files.summary):
            f.write_text("")
        return files

    def as_env(self) -> dict[str, str]:
        return {
            "GITHUB_OUTPUT": str(self.output),
            "GITHUB_ENV": str(self.env),
            "GITHUB_PATH": str(self.path),
            "GITHUB_STEP_SUMMARY": str(self.summary),
        }


def parse_key_values(text: str, source: str) -> dict[str, str]:
    """`name=value` lines and `name<<DELIM ... DELIM` blocks, as GitHub reads GITHUB_OUTPUT/GITHUB_ENV."""
    values: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip():
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            block: list[str] = []
            while i < len(lines) and lines[i] != delim:
                block.append(lines[i])
                i += 1
            if i >= len(lines):
                raise WorkflowError(f"{source}: matching delimiter {delim!r} not found for {name!r}")
            i += 1
            values[name] = "\n".join(block)
        elif "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
        else:
            raise WorkflowError(f"{source}: invalid line {line[:60]!r} (expected name=value or name<<DELIMITER)")
    return values


@dataclass
class ShellResult:
    exit_code: int
    log: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)
    summary: str = ""
    timed_out: bool = False


def _masked(line: str, masks: list[str]) -> str:
    for secret in masks:
        if secret:
            line = line.replace(secret, "***")
    return line


def run_script(
    script: str,
    *,
    shell: str | None,
    cwd: Path,
    env: dict[str, str],
    temp: Path,
    masks: list[str],
    log: Callable[[str], None],
    timeout_s: float | None = None,
) -> ShellResult:
    """Run a step's script and collect what it reported through files and workflow commands."""
    shell = shell or "bash"
    template = SHELLS.get(shell, shell if "{0}" in shell else f"{shell} {{0}}")
    if template is None:
        raise WorkflowError(f"shell {shell!r} is not available on this runner (bash, sh and python are)")
    if not cwd.is_dir():
        raise WorkflowError(f"working-directory {cwd} does not exist")
    script_file = temp / f"step_{uuid.uuid4().hex[:12]}{_SUFFIX.get(shell, '.sh')}"
    script_file.write_text(script)
    files = CommandFiles.create(temp)
    argv = template.replace("{0}", str(script_file)).split()
    result = ShellResult(exit_code=0)
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env={**env, **files.as_env()},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    assert proc.stdout is not None
    timer: threading.Timer | None = None
    if timeout_s:
        # The read loop blocks on output, so a timer ends the step's whole process group.
        def _kill() -> None:
            result.timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout_s, _kill)
        timer.start()
    try:
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            m = _COMMAND.match(line)
            if m:
                cmd, _params, message = m.groups()
                if cmd == "add-mask":
                    masks.append(message)
                    continue
                if cmd == "error":
                    result.errors.append(_masked(message, masks))
                elif cmd == "set-output" and _params and _params.startswith("name="):
                    result.outputs[_params[5:]] = message
                    continue
            line = _masked(line, masks)
            result.log.append(line)
            log(line)
        result.exit_code = proc.wait()
    finally:
        if timer is not None:
            timer.cancel()
        proc.stdout.close()
    if result.timed_out:
        result.exit_code = 124
    result.outputs.update(parse_key_values(files.output.read_text(), "GITHUB_OUTPUT"))
    result.env = parse_key_values(files.env.read_text(), "GITHUB_ENV")
    result.path = [p for p in files.path.read_text().splitlines() if p.strip()]
    result.summary = files.summary.read_text()
    return result
