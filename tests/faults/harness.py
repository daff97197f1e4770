"""Kill a `pitlane` command at a named point or a moment, rerun it, and describe the end state.

Runs are forked from the test process (toolkit already imported, so a run
costs its own work, not Python's start-up) into a new session; a kill is
SIGKILL to that whole process group, as a crash takes git and dvc children
with it. The end state compared between an interrupted-then-rerun sequence
and an uninterrupted run: commit subjects (history shape), the HEAD tree with
volatile fields (times) dropped from sidecars and lineage files, every path in
the working tree that git does not track (ignored ones too: staging, partials,
bag data), catalog rows, and the DVC cache's objects.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VOLATILE = {"ingested_at", "created_at", "tool_version"}
KILLED = -signal.SIGKILL


@dataclass
class Result:
    rc: int  # negative: killed by that signal
    out: str
    err: str


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None, kill_after: float | None = None) -> Result:
    """`pitlane ARGS` in a forked child; SIGKILL its process group after `kill_after` seconds if given."""
    from toolkit.cli.main import main

    _warm()
    out_f = cwd.parent / f".out-{os.getpid()}"
    err_f = cwd.parent / f".err-{os.getpid()}"
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 70
        try:
            os.setsid()
            fo = os.open(out_f, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            fe = os.open(err_f, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fo, 1)
            os.dup2(fe, 2)
            os.chdir(cwd)
            os.environ.update(env or {})
            # The test runner may have swapped sys.stdout/err for its own capture objects.
            sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
            sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
            sys.argv = ["pitlane", *args]
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 70
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    if kill_after is not None:
        deadline = time.monotonic() + kill_after
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.005)
        else:
            os.killpg(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
    else:
        _, status = os.waitpid(pid, 0)
    with_group_gone(pid)
    rc = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    out, err = out_f.read_text(errors="replace"), err_f.read_text(errors="replace")
    out_f.unlink(missing_ok=True)
    err_f.unlink(missing_ok=True)
    return Result(rc, out, err)


def _warm() -> None:
    """Import in the parent what every run imports, so that a forked run costs its own work only."""
    import toolkit.bags.indexer
    import toolkit.bags.slice
    import toolkit.cli.data
    import toolkit.data.api  # noqa: F401


def with_group_gone(pgid: int) -> None:
    """A crash takes the children too: nothing of the killed run may go on changing the repo."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return
    for _ in range(200):
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)


def trace(args: list[str], cwd: Path) -> tuple[Result, list[tuple[str, int]]]:
    """An uninterrupted run and its fault points in order, as (name, n-th time reached)."""
    trace_file = cwd.parent / "fault-trace.txt"
    trace_file.unlink(missing_ok=True)
    res = run(args, cwd, {"PITLANE_FAULT_TRACE": str(trace_file)})
    seen: Counter[str] = Counter()
    points: list[tuple[str, int]] = []
    for name in trace_file.read_text().splitlines() if trace_file.exists() else []:
        seen[name] += 1
        points.append((name, seen[name]))
    trace_file.unlink(missing_ok=True)
    return res, points


def kill_at(args: list[str], cwd: Path, point: tuple[str, int]) -> Result:
    return run(args, cwd, {"PITLANE_FAULT_POINT": f"{point[0]}:{point[1]}"})


# --- end state -------------------------------------------------------------
def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout


def _normalized(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _normalized(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [_normalized(v) for v in obj]
    return obj


def _tree(root: Path) -> dict[str, Any]:
    files: dict[str, Any] = {}
    for line in _git(root, "ls-tree", "-r", "HEAD").splitlines():
        meta, path = line.split("\t", 1)
        blob = meta.split()[2]
        if path.endswith((".pitlane.json", ".lineage.json")):
            files[path] = _normalized(json.loads(_git(root, "cat-file", "blob", blob)))
        else:
            files[path] = blob
    return files


def _untracked(root: Path) -> list[str]:
    out = _git(root, "status", "--porcelain", "--untracked-files=all", "--ignored=traditional")
    keep = []
    for line in out.splitlines():
        path = line[3:]
        # The catalog is compared by its rows, the cache by its objects; dvc's tmp/ is dvc's own business.
        if path.startswith((".pitlane/catalog.db", ".dvc/cache/", ".dvc/tmp/")) or path == ".pitlane/lock":
            continue
        keep.append(line)
    return sorted(keep)


def _catalog(root: Path) -> list[Any]:
    from toolkit.data.catalog import Catalog

    db = root / ".pitlane" / "catalog.db"
    if not db.exists():
        return []
    catalog = Catalog.open(db)
    try:
        return [_normalized(row) for row in catalog.snapshot()]
    finally:
        catalog.close()


def _dvc_cache(root: Path) -> list[str]:
    cache = root / ".dvc" / "cache"
    return sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file()) if cache.exists() else []


def end_state(root: Path) -> dict[str, Any]:
    return {
        "history": _git(root, "log", "--format=%s").splitlines(),
        "tree": _tree(root),
        "untracked": _untracked(root),
        "catalog": _catalog(root),
        "dvc_cache": _dvc_cache(root),
    }


def diff(a: dict[str, Any], b: dict[str, Any]) -> str:
    """The first differing part of two end states, for an assertion message."""
    for key in a:
        x, y = a[key], b.get(key)
        if x == y:
            continue
        if isinstance(x, dict) and isinstance(y, dict):
            for k in sorted(set(x) | set(y)):
                if x.get(k) != y.get(k):
                    return f"{key}[{k}]: {_short(x.get(k))} != {_short(y.get(k))}"
        return f"{key}: {_short(x)} != {_short(y)}"
    return ""


def _short(v: Any) -> str:
    return json.dumps(v, sort_keys=True)[:1500]


def rng(seed: int) -> random.Random:
    return random.Random(seed)
