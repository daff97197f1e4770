"""Executors of web runs: the local subprocess queue and Ray Jobs on a real local Ray head."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from registry.executors import JobResources, JobSpec, JobState, JobStatus
from registry.executors.local import LocalExecutor
from registry.executors.ray import RayExecutor, ray_resources


def wait_for(fn: Callable[[], JobStatus], states: set[JobState], timeout: float = 120) -> JobStatus:
    deadline = time.monotonic() + timeout
    while True:
        st = fn()
        if st.state in states:
            return st
        if time.monotonic() > deadline:
            raise AssertionError(f"still {st} after {timeout} s")
        time.sleep(0.2)


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_local_runs_one_job_at_a_time_and_survives_a_restart(tmp_path: Path) -> None:
    ex = LocalExecutor(tmp_path / "state")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    slow = py("import time,os; time.sleep(1.5); print('A', os.environ['X'])")
    a = ex.submit(JobSpec(1, tmp_path / "a", slow, {"X": "1"}))
    b = ex.submit(JobSpec(2, tmp_path / "b", py("print('B in', __import__('os').getcwd())")))
    assert ex.status(a).state is JobState.running
    pending = ex.status(b)
    assert pending.state is JobState.pending and "one job at a time" in pending.message
    assert wait_for(lambda: ex.status(a), {JobState.succeeded}).state is JobState.succeeded
    wait_for(lambda: ex.status(b), {JobState.succeeded})
    assert ex.logs(a).strip() == "A 1"
    assert ex.logs(b).strip() == f"B in {tmp_path / 'b'}"
    # A new executor (a restarted registry) reads the same jobs back from their files.
    again = LocalExecutor(tmp_path / "state")
    assert again.status(a).state is JobState.succeeded
    assert again.logs(b).startswith("B in")


def test_local_failure_reports_exit_code_and_last_line(tmp_path: Path) -> None:
    ex = LocalExecutor(tmp_path / "state")
    job = ex.submit(JobSpec(1, tmp_path, py("import sys; print('step 1'); sys.exit('resource check failed')")))
    st = wait_for(lambda: ex.status(job), {JobState.failed})
    assert st.message == "exited with code 1: resource check failed"


def test_local_killed_worker_is_failed_takes_its_command_along_and_the_next_job_starts(tmp_path: Path) -> None:
    ex = LocalExecutor(tmp_path / "state")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    code = "import os, time; open('cmd.pid', 'w').write(str(os.getpid())); time.sleep(60)"
    a = ex.submit(JobSpec(1, tmp_path / "a", py(code)))
    b = ex.submit(JobSpec(2, tmp_path / "b", py("print('ok')")))
    pid_file = tmp_path / "a" / "cmd.pid"
    deadline = time.monotonic() + 30
    while not pid_file.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    worker = int((tmp_path / "a" / ".pitlane-job" / a / "pid").read_text())
    os.kill(worker, signal.SIGKILL)
    st = wait_for(lambda: ex.status(a), {JobState.failed})
    assert st.message == "the worker process died"
    wait_for(lambda: ex.status(b), {JobState.succeeded})
    # The command does not linger as an orphan once its worker is gone.
    command = int(pid_file.read_text())
    deadline = time.monotonic() + 15
    while _alive(command):
        assert time.monotonic() < deadline, "the command outlived its worker"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


def test_ray_resources_map_spec_to_entrypoint_options() -> None:
    assert ray_resources(JobResources(cpu=2, memory_bytes=2 * 2**30, gpus=1, gpu_type="A100")) == {
        "entrypoint_num_cpus": 2,
        "entrypoint_num_gpus": 1,
        "entrypoint_memory": 2 * 2**30,
        "entrypoint_resources": {"accelerator_type:A100": 0.001},
    }
    assert ray_resources(JobResources(cpu=1)) == {"entrypoint_num_cpus": 1}


@pytest.mark.slow
def test_ray_job_runs_streams_logs_and_is_read_back_after_restart(ray_head, tmp_path: Path) -> None:
    print(f"ray head started in {ray_head.start_seconds:.1f} s")
    ex = RayExecutor(ray_head.address)
    job = ex.submit(
        JobSpec(7, tmp_path, py("import os; print('run', os.environ['PITLANE_RUN_ID'], os.getcwd())"),
                {"PITLANE_RUN_ID": "7"}, JobResources(cpu=1, memory_bytes=100 * 2**20))
    )  # fmt: skip
    wait_for(lambda: ex.status(job), {JobState.succeeded, JobState.failed})
    assert ex.status(job).state is JobState.succeeded, ex.logs(job)
    assert f"run 7 {tmp_path}" in ex.logs(job)
    # The job table lives in Ray: a fresh executor (registry restart) sees the same job.
    assert RayExecutor(ray_head.address).status(job).state is JobState.succeeded


@pytest.mark.slow
def test_ray_job_no_node_can_hold_stays_pending_with_reason(ray_head, tmp_path: Path) -> None:
    ex = RayExecutor(ray_head.address)
    job = ex.submit(JobSpec(8, tmp_path, py("print('never')"), {}, JobResources(cpu=1, gpus=1)))
    try:
        time.sleep(1.0)
        st = ex.status(job)
        assert st.state is JobState.pending
        assert st.message == "waiting for resources: no node offers 1 GPU (no node has any)"
    finally:
        # Ray cannot stop a job whose supervisor was never placed; the registry marks the run stopped itself.
        ex.stop(job)


def test_ray_executor_without_address_is_a_clear_error() -> None:
    from toolkit.errors import UserError

    with pytest.raises(UserError, match="PITLANE_RAY_ADDRESS"):
        RayExecutor("")


def _ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[1])


@pytest.mark.slow
def test_ray_worker_death_fails_the_job_and_ends_its_command(ray_head, tmp_path: Path) -> None:
    ex = RayExecutor(ray_head.address)
    code = "import os, time; open('cmd.pid', 'w').write(str(os.getpid())); time.sleep(120)"
    job = ex.submit(JobSpec(9, tmp_path, py(code), {}, JobResources(cpu=1)))
    pid_file = tmp_path / "cmd.pid"
    deadline = time.monotonic() + 120
    while not pid_file.exists():
        assert time.monotonic() < deadline, ex.logs(job)
        time.sleep(0.1)
    command = int(pid_file.read_text())
    # command <- inner launcher (group leader) <- outer launcher (the entrypoint) <- Ray's JobSupervisor worker
    supervisor = _ppid(_ppid(_ppid(command)))
    with open(f"/proc/{supervisor}/cmdline") as fh:
        assert "JobSupervisor" in fh.read()
    os.kill(supervisor, signal.SIGKILL)  # the Ray worker process that runs the job
    st = wait_for(lambda: ex.status(job), {JobState.failed, JobState.succeeded})
    assert st.state is JobState.failed
    assert "Job supervisor actor died" in st.message
    deadline = time.monotonic() + 20
    while _alive(command):
        assert time.monotonic() < deadline, "the command outlived its Ray worker"
        time.sleep(0.1)
