"""Run a job's command so that it dies with the worker that started it.

Ray starts a job's entrypoint in a new session, and when the worker that
supervises it dies, Ray's raylet may SIGKILL the entrypoint process too; the
training below it would go on as an orphan and race the retry for its
checkpoints. So the launcher is two processes:

- the outer one (the entrypoint) watches its parent and stops the job once
  orphaned, or on SIGTERM/SIGINT (a stop);
- the inner one leads a new process group holding the command and everything
  it starts (dvc, the stage scripts). The kernel sends it SIGTERM when the
  outer one dies, however it dies (PR_SET_PDEATHSIG), and it then ends its
  whole group.

    python -m registry.executors.launcher -- pitlane run -S trainer.lr=0.01

Exit code: the command's, or 128+signal when it was ended.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time

POLL_S = 0.2
GRACE_S = 10.0
PR_SET_PDEATHSIG = 1


def _end_group(pgid: int, *, include_self: bool = False) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        if include_self and _group_is_only_me(pgid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _group_is_only_me(pgid: int) -> bool:
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return False
    return True


def _inner(argv: list[str]) -> int:
    """Group leader: dies with the outer launcher and takes the command's whole group along."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    parent = int(os.environ.pop("PITLANE_LAUNCHER_PARENT", "0"))
    ending: list[int] = []

    def _stop(signum: int, _frame: object) -> None:
        ending.append(signum)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if parent and os.getppid() != parent:
        return 128 + signal.SIGTERM  # the outer launcher died before the death signal was armed
    child = subprocess.Popen(argv)
    while True:
        try:
            code = child.wait(timeout=POLL_S)
            return code if code >= 0 else 128 - code
        except subprocess.TimeoutExpired:
            pass
        if ending:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            _end_group(os.getpgrp(), include_self=True)
            return 128 + ending[0]


def _outer(argv: list[str]) -> int:
    parent = os.getppid()
    env = {**os.environ, "PITLANE_LAUNCHER_PARENT": str(os.getpid())}
    inner = subprocess.Popen(
        [sys.executable, "-m", "registry.executors.launcher", "--inner", "--", *argv], start_new_session=True, env=env
    )
    stopping: list[int] = []

    def _forward(signum: int, _frame: object) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGTERM, _forward)
    signal.signal(signal.SIGINT, _forward)
    while True:
        try:
            code = inner.wait(timeout=POLL_S)
            return code if code >= 0 else 128 - code
        except subprocess.TimeoutExpired:
            pass
        if stopping or os.getppid() != parent:
            if not stopping:
                sys.stderr.write("pitlane launcher: the worker that started this job died; ending the job\n")
            _end_group(inner.pid)
            inner.wait()
            return 128 + (stopping[0] if stopping else signal.SIGKILL)


def main(argv: list[str]) -> int:
    inner = argv[:1] == ["--inner"]
    if inner:
        argv = argv[1:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        sys.stderr.write("usage: python -m registry.executors.launcher -- COMMAND...\n")
        return 2
    return _inner(argv) if inner else _outer(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
