"""Local executor: runs one job at a time as a subprocess on the registry's machine.

A job's state lives in files in its work directory (`.pitlane-job/`): the pid,
the log, and the exit code the wrapper shell writes when the command ends, so
a restarted registry reads the same state. Jobs submitted while another runs
wait (pending) and start when a later status poll finds the slot free.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import threading
from pathlib import Path

from registry.executors.base import JobSpec, JobState, JobStatus, launcher_argv, run_environment

JOB_DIR = ".pitlane-job"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child is not running any more.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


class LocalExecutor:
    name = "local"

    def __init__(self, state_dir: Path) -> None:
        # state_dir/<job id> -> the job's work directory (a link file), so ids survive restarts.
        self.state_dir = state_dir
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._children: dict[str, subprocess.Popen[bytes]] = {}

    # --- files ---------------------------------------------------------------
    def _job_dir(self, job_id: str) -> Path:
        ref = self.state_dir / f"{job_id}.json"
        if not ref.is_file():
            raise KeyError(job_id)
        return Path(json.loads(ref.read_text())["workdir"]) / JOB_DIR / job_id

    def _read(self, job_id: str, name: str) -> str | None:
        path = self._job_dir(job_id) / name
        return path.read_text() if path.is_file() else None

    def _job_ids(self) -> list[str]:
        return sorted(p.stem for p in self.state_dir.glob("*.json"))

    # --- interface -------------------------------------------------------------
    def submit(self, job: JobSpec) -> str:
        with self._lock:
            job_id = f"local-{job.run_id}-{len(self._job_ids()) + 1}"
            jdir = job.workdir / JOB_DIR / job_id
            jdir.mkdir(parents=True, exist_ok=True)
            (jdir / "spec.json").write_text(json.dumps({"argv": job.argv, "env": job.env, "workdir": str(job.workdir)}))
            (self.state_dir / f"{job_id}.json").write_text(json.dumps({"workdir": str(job.workdir)}))
            self._start_next()
            return job_id

    def _running(self) -> str | None:
        for job_id in self._job_ids():
            try:
                pid = self._read(job_id, "pid")
            except KeyError:
                continue
            if pid and self._read(job_id, "exit") is None and not self._read(job_id, "stopped"):
                if _alive(int(pid)):
                    return job_id
                # The wrapper died without writing its exit code: the worker was killed.
                (self._job_dir(job_id) / "exit").write_text("killed")
        return None

    def _start_next(self) -> None:
        if self._running() is not None:
            return
        for job_id in self._job_ids():
            jdir = self._job_dir(job_id)
            if (jdir / "pid").exists() or (jdir / "stopped").exists():
                continue
            spec = json.loads((jdir / "spec.json").read_text())
            command = shlex.join(launcher_argv(spec["argv"]))
            # The wrapper records the exit code, which a restarted registry reads back.
            script = f"{command} > {shlex.quote(str(jdir / 'log'))} 2>&1; echo $? > {shlex.quote(str(jdir / 'exit'))}"
            proc = subprocess.Popen(
                ["bash", "-c", script],
                cwd=spec["workdir"],
                env=run_environment(spec["env"]),  # never the registry's secrets
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            self._children[job_id] = proc
            (jdir / "pid").write_text(str(proc.pid))
            return

    def status(self, job_id: str) -> JobStatus:
        with self._lock:
            # Reap finished children so their pids read as gone.
            for child in list(self._children.values()):
                child.poll()
            running = self._running()
            self._start_next()
            if running is None:
                running = self._running()
            try:
                jdir = self._job_dir(job_id)
            except KeyError:
                return JobStatus(JobState.failed, f"unknown local job {job_id}")
            if (jdir / "stopped").exists():
                return JobStatus(JobState.stopped, "stopped")
            code = self._read(job_id, "exit")
            if code is not None:
                code = code.strip()
                if code == "0":
                    return JobStatus(JobState.succeeded)
                if code == "killed":
                    return JobStatus(JobState.failed, "the worker process died")
                return JobStatus(JobState.failed, f"exited with code {code}: {self._last_line(job_id)}")
            if (jdir / "pid").exists():
                return JobStatus(JobState.running)
            return JobStatus(JobState.pending, f"waiting: the local executor runs one job at a time ({running} runs)")

    def _last_line(self, job_id: str) -> str:
        log = self._read(job_id, "log") or ""
        return next((ln.strip() for ln in reversed(log.splitlines()) if ln.strip()), "")

    def logs(self, job_id: str) -> str:
        try:
            return self._read(job_id, "log") or ""
        except KeyError:
            return ""

    def stop(self, job_id: str) -> None:
        with self._lock:
            jdir = self._job_dir(job_id)
            pid = self._read(job_id, "pid")
            (jdir / "stopped").write_text("1")
            if pid and _alive(int(pid)):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(int(pid), signal.SIGTERM)
            self._start_next()
