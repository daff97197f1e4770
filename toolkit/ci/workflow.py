"""Workflow and action files: loading, trigger matching and job ordering."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from toolkit.errors import WorkflowError


def load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise WorkflowError(f"{path}: no such workflow or action file") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise WorkflowError(f"{path}{where}: invalid YAML: {problem}") from exc
    if not isinstance(data, dict):
        raise WorkflowError(f"{path}: expected a mapping at the top level")
    # YAML 1.1 reads the bare key `on` as the boolean true.
    if True in data:
        data["on"] = data.pop(True)
    return data


@dataclass
class Workflow:
    path: Path
    name: str
    on: dict[str, Any]
    env: dict[str, Any]
    defaults: dict[str, Any]
    jobs: dict[str, dict[str, Any]]
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def call_spec(self) -> dict[str, Any]:
        spec = self.on.get("workflow_call")
        return spec if isinstance(spec, dict) else {}

    @property
    def is_reusable(self) -> bool:
        return "workflow_call" in self.on


def _normalize_on(on: Any) -> dict[str, Any]:
    if isinstance(on, str):
        return {on: {}}
    if isinstance(on, list):
        return {str(e): {} for e in on}
    if isinstance(on, dict):
        return {str(k): (v or {}) for k, v in on.items()}
    return {}


def load_workflow(path: Path) -> Workflow:
    data = load_yaml(path)
    jobs = data.get("jobs")
    if not isinstance(jobs, dict) or not jobs:
        raise WorkflowError(f"{path}: a workflow needs a 'jobs' mapping")
    for job_id, job in jobs.items():
        if not isinstance(job, dict):
            raise WorkflowError(f"{path}: job {job_id!r} must be a mapping")
        if "steps" not in job and "uses" not in job:
            raise WorkflowError(f"{path}: job {job_id!r} has neither 'steps' nor 'uses'")
    return Workflow(
        path=path,
        name=str(data.get("name") or path.name),
        on=_normalize_on(data.get("on")),
        env=dict(data.get("env") or {}),
        defaults=dict(data.get("defaults") or {}),
        jobs={str(k): v for k, v in jobs.items()},
        raw=data,
    )


def needs_of(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else [str(n) for n in needs]


def job_order(workflow: Workflow, target: str | None = None) -> list[str]:
    """The target job and everything it needs, dependencies first (all jobs when target is None)."""
    if target is not None and target not in workflow.jobs:
        raise WorkflowError(f"{workflow.path.name}: no job {target!r} (jobs: {', '.join(workflow.jobs)})")
    wanted = [target] if target else list(workflow.jobs)
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(job_id: str, chain: list[str]) -> None:
        if state.get(job_id) == "done":
            return
        if state.get(job_id) == "visiting":
            raise WorkflowError(f"{workflow.path.name}: 'needs' cycle: {' -> '.join([*chain, job_id])}")
        if job_id not in workflow.jobs:
            raise WorkflowError(f"{workflow.path.name}: job {chain[-1]!r} needs unknown job {job_id!r}")
        state[job_id] = "visiting"
        for dep in needs_of(workflow.jobs[job_id]):
            visit(dep, [*chain, job_id])
        state[job_id] = "done"
        order.append(job_id)

    for job_id in wanted:
        visit(job_id, [])
    return order


def _glob(pattern: str, value: str) -> bool:
    # GitHub filter globs: `*` stops at '/', `**` crosses it.
    regex = re.escape(pattern).replace(r"\*\*", "\0").replace(r"\*", "[^/]*").replace("\0", ".*")
    regex = regex.replace(r"\?", ".")
    return re.fullmatch(regex, value) is not None


def _filters_match(filters: dict[str, Any], key: str, value: str) -> bool | None:
    """None when the trigger has no filter of this kind."""
    include = filters.get(key)
    exclude = filters.get(f"{key}-ignore")
    if include is None and exclude is None:
        return None
    if include is not None:
        patterns = [include] if isinstance(include, str) else [str(p) for p in include]
        matched = False
        for pat in patterns:
            if pat.startswith("!"):
                if _glob(pat[1:], value):
                    matched = False
            elif _glob(pat, value):
                matched = True
        return matched
    patterns = [exclude] if isinstance(exclude, str) else [str(p) for p in exclude or []]
    return not any(_glob(p, value) for p in patterns)


def triggered_by(workflow: Workflow, event: str, ref: str, base_ref: str | None = None) -> bool:
    """Whether a push/pull_request event on `ref` starts this workflow (reusable ones always run)."""
    if workflow.is_reusable and event not in workflow.on:
        return True
    if event not in workflow.on:
        return False
    filters = workflow.on[event] if isinstance(workflow.on[event], dict) else {}
    if event == "push":
        if ref.startswith("refs/tags/"):
            tags = _filters_match(filters, "tags", ref.removeprefix("refs/tags/"))
            if tags is None:
                # A push trigger with only branch filters does not fire on tags.
                return _filters_match(filters, "branches", "") is None
            return tags
        branches = _filters_match(filters, "branches", ref.removeprefix("refs/heads/"))
        if branches is None:
            return _filters_match(filters, "tags", "") is None
        return branches
    if event == "pull_request" and base_ref is not None:
        branches = _filters_match(filters, "branches", base_ref)
        return True if branches is None else branches
    return True
