"""Work folders of one process beside an output: `.NAME.partial-PID`, renamed into place when done.

A killed writer leaves its folder behind; whoever next writes the same output
removes the folders of dead PIDs (a live PID may be another run still working).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

_PARTIAL = re.compile(r"^\..+\.partial-(\d+)$")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def work_path(out: Path) -> Path:
    """This process's work folder for `out`."""
    return out.parent / f".{out.name}.partial-{os.getpid()}"


def is_stale(path: Path) -> bool:
    m = _PARTIAL.match(path.name)
    return bool(m) and not pid_alive(int(m.group(1)))  # type: ignore[union-attr]


def stale_partials(out: Path) -> list[Path]:
    """`.NAME.partial-PID` folders for `out` whose writer is dead."""
    if not out.parent.is_dir():
        return []
    prefix = f".{out.name}.partial-"
    return sorted(p for p in out.parent.iterdir() if p.name.startswith(prefix) and is_stale(p))


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def remove_stale_partials(out: Path) -> list[Path]:
    found = stale_partials(out)
    for p in found:
        remove(p)
    return found
