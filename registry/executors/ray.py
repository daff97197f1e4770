"""Ray executor: runs jobs through Ray Jobs (`JobSubmissionClient`) on a Ray cluster.

The spec's resources become the entrypoint's Ray resources (CPUs, GPUs,
memory, and `accelerator_type:<gpu type>` for a GPU type), so Ray places the
job on a node that offers them; a job no node can hold stays PENDING and
:meth:`RayExecutor.status` says which resource is missing. Ray keeps the job
table, so a restarted registry re-polls the same job ids.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from registry.executors.base import JobResources, JobSpec, JobState, JobStatus, launcher_argv
from toolkit.errors import UserError

_STATES = {
    "PENDING": JobState.pending,
    "RUNNING": JobState.running,
    "SUCCEEDED": JobState.succeeded,
    "FAILED": JobState.failed,
    "STOPPED": JobState.stopped,
}


def ray_resources(res: JobResources) -> dict[str, Any]:
    """Keyword arguments of `submit_job` for a job's resources."""
    kwargs: dict[str, Any] = {"entrypoint_num_cpus": res.cpu}
    if res.gpus:
        kwargs["entrypoint_num_gpus"] = res.gpus
    if res.memory_bytes:
        kwargs["entrypoint_memory"] = int(res.memory_bytes)
    if res.gpu_type:
        # Ray nodes advertise their GPU model as this resource; a small fraction asks for the type only.
        kwargs["entrypoint_resources"] = {f"accelerator_type:{res.gpu_type}": 0.001}
    return kwargs


def _wanted(kwargs: dict[str, Any]) -> dict[str, float]:
    wanted = {"CPU": float(kwargs.get("entrypoint_num_cpus") or 0)}
    wanted["GPU"] = float(kwargs.get("entrypoint_num_gpus") or 0)
    wanted["memory"] = float(kwargs.get("entrypoint_memory") or 0)
    wanted.update({k: float(v) for k, v in (kwargs.get("entrypoint_resources") or {}).items()})
    return {k: v for k, v in wanted.items() if v}


def _fmt(name: str, amount: float) -> str:
    if name == "memory":
        return f"{amount / 2**30:.1f} GiB memory"
    return f"{amount:g} {name}" if not name.startswith("accelerator_type:") else f"GPU type {name.split(':', 1)[1]}"


class RayExecutor:
    name = "ray"

    def __init__(self, address: str) -> None:
        if not address:
            raise UserError("the ray executor needs PITLANE_RAY_ADDRESS (the Ray dashboard URL, e.g. http://host:8265)")
        self.address = address if "://" in address else f"http://{address}"
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            from ray.exceptions import AuthenticationError
            from ray.job_submission import JobSubmissionClient

            try:
                self._client = JobSubmissionClient(self.address)
            except AuthenticationError as exc:
                raise UserError(
                    f"Ray at {self.address} wants a token: set RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH) for the registry"
                ) from exc
            except (ConnectionError, RuntimeError) as exc:
                raise UserError(f"Ray at {self.address} is unreachable: {str(exc).splitlines()[0]}") from exc
        return self._client

    def submit(self, job: JobSpec) -> str:
        # The entrypoint runs through a shell on the node; the work directory must be reachable there.
        # `exec` makes the launcher the supervisor's direct child, so it notices when that worker dies.
        entrypoint = f"cd {shlex.quote(str(job.workdir))} && exec {shlex.join(launcher_argv(job.argv))}"
        kwargs = ray_resources(job.resources)
        job_id: str = self.client.submit_job(
            entrypoint=entrypoint,
            runtime_env={"env_vars": dict(job.env)},
            # Ray's job details do not echo the entrypoint resources: keep them to explain a pending job.
            metadata={"pitlane_run": str(job.run_id), "pitlane_resources": json.dumps(kwargs)},
            **kwargs,
        )
        return job_id

    def status(self, job_id: str) -> JobStatus:
        info = self.client.get_job_info(job_id)
        state = _STATES.get(str(getattr(info.status, "value", info.status)), JobState.pending)
        message = info.message or ""
        if state is JobState.pending:
            reason = self.unmet_resources(info)
            if reason:
                message = reason
        elif state is JobState.failed and not message:
            message = "the job failed"
        return JobStatus(state, message.strip())

    def unmet_resources(self, info: Any) -> str | None:
        """Why a pending job cannot start: the first resource no alive node offers."""
        try:
            wanted = _wanted(json.loads((info.metadata or {}).get("pitlane_resources", "{}")))
        except ValueError:
            return None
        nodes = self.node_resources()
        if not nodes:
            return None
        for name, amount in wanted.items():
            if not any(n.get(name, 0.0) >= amount for n in nodes):
                best = max((n.get(name, 0.0) for n in nodes), default=0.0)
                offered = "no node has any" if best == 0 else f"the largest node has {_fmt(name, best)}"
                return f"waiting for resources: no node offers {_fmt(name, amount)} ({offered})"
        if not any(all(n.get(k, 0.0) >= v for k, v in wanted.items()) for n in nodes):
            return f"waiting for resources: no single node offers {', '.join(_fmt(k, v) for k, v in wanted.items())}"
        return None

    def node_resources(self) -> list[dict[str, float]]:
        from ray.util.state import list_nodes

        try:
            nodes = list_nodes(address=self.address, detail=True, raise_on_missing_output=False)
        except Exception:  # the state API is advisory here: the job status stands without it
            return []
        return [dict(n.resources_total or {}) for n in nodes if str(n.state) == "ALIVE"]

    def logs(self, job_id: str) -> str:
        text: str = self.client.get_job_logs(job_id)
        return text

    def stop(self, job_id: str) -> None:
        self.client.stop_job(job_id)
