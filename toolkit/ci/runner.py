"""The local workflow harness: runs a workflow's jobs and steps on this machine like a GitHub runner.

Jobs run in `needs:` order; `run:` steps go through bash in the workspace with
GitHub's environment and command files; `uses:` resolves to local composite
actions, local (or mapped) reusable workflows, or the built-in stand-ins of a
few marketplace actions. `runs-on` is evaluated and recorded, not enforced:
this machine is the runner.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit.ci import actions
from toolkit.ci.context import (
    RunOptions,
    base_environment,
    github_context,
    resolve_ref,
    runner_context,
    runner_python,
)
from toolkit.ci.expressions import ExpressionError, Scope, condition, render, render_str, to_str, truthy
from toolkit.ci.shell import run_script
from toolkit.ci.workflow import Workflow, job_order, load_workflow, needs_of, triggered_by
from toolkit.errors import WorkflowError, WorkflowFailedError


@dataclass
class StepResult:
    id: str
    name: str
    outcome: str  # success | failure | skipped
    conclusion: str
    outputs: dict[str, str] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class JobResult:
    id: str
    name: str
    result: str  # success | failure | skipped
    outputs: dict[str, str] = field(default_factory=dict)
    steps: list[StepResult] = field(default_factory=list)
    runs_on: Any = None
    error: str | None = None
    summary: str = ""
    container: str | None = None  # the image a GitHub runner would start; the harness runs the steps here

    def step(self, step_id: str) -> StepResult:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    @property
    def log(self) -> list[str]:
        return [line for s in self.steps for line in s.log]


@dataclass
class WorkflowRun:
    workflow: Path
    jobs: dict[str, JobResult]
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(j.result != "failure" for j in self.jobs.values())

    @property
    def failure(self) -> str | None:
        for job in self.jobs.values():
            if job.result == "failure" and job.error:
                return f"job {job.id!r}: {job.error}"
        return None

    def raise_for_failure(self) -> None:
        if not self.ok:
            raise WorkflowFailedError(self.failure or f"{self.workflow.name} failed")

    def to_dict(self) -> dict[str, Any]:
        return {
            "workflow": str(self.workflow),
            "ok": self.ok,
            "failure": self.failure,
            "outputs": self.outputs,
            "jobs": {
                k: {
                    "result": j.result,
                    "runs_on": j.runs_on,
                    "container": j.container,
                    "outputs": j.outputs,
                    "error": j.error,
                    "steps": [
                        {
                            "id": s.id,
                            "name": s.name,
                            "outcome": s.outcome,
                            "conclusion": s.conclusion,
                            "outputs": s.outputs,
                            "error": s.error,
                        }
                        for s in j.steps
                    ],
                }
                for k, j in self.jobs.items()
            },
        }


@dataclass
class _JobState:
    """What persists across the steps of one job, composite steps included."""

    env: dict[str, str]  # workflow + job env, then GITHUB_ENV additions
    path: list[str] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)


@dataclass
class _Frame:
    """The scope of a list of steps: a job, or one composite action inside it."""

    contexts: dict[str, Any]
    state: _JobState
    defaults_run: dict[str, Any]
    status: str = "success"
    action_path: Path | None = None
    step_env: dict[str, str] = field(default_factory=dict)  # a composite's caller step env
    results: list[StepResult] = field(default_factory=list)
    label: str = ""


def _stderr_log(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class Harness:
    def __init__(self, options: RunOptions) -> None:
        self.options = options
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if options.temp_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="pitlane-ci-")
            self.temp = Path(self._tmp.name)
        else:
            self.temp = options.temp_dir
            self.temp.mkdir(parents=True, exist_ok=True)
        self._sink = options.log or _stderr_log
        self.masks = [v for v in options.secrets.values() if v]

    def log(self, line: str) -> None:
        # Step names and echoed commands may carry rendered secrets too.
        for secret in self.masks:
            line = line.replace(secret, "***")
        self._sink(line)

    # --- entry ---------------------------------------------------------------
    def run(self, path: Path, job: str | None = None) -> WorkflowRun:
        try:
            return self._run(path, job)
        finally:
            if self._tmp is not None:
                self._tmp.cleanup()

    def _run(self, path: Path, job: str | None) -> WorkflowRun:
        wf = load_workflow(path)
        ref = resolve_ref(self.options)
        if self.options.check_triggers and not triggered_by(wf, ref.event_name, ref.ref, ref.base_ref or None):
            raise WorkflowError(f"{path.name} does not run on {self.options.event} of {ref.ref} (see its 'on:')")
        github = github_context(self.options, ref, wf.name)
        event_file = self.temp / "event.json"
        event_file.write_text(json.dumps(github["event"]))
        self.runner = runner_context(self.temp)
        self.base_env = base_environment(github, self.runner, runner_python(self.options))
        self.base_env["GITHUB_EVENT_PATH"] = str(event_file)
        spec_inputs = wf.call_spec.get("inputs") or (wf.on.get("workflow_dispatch") or {}).get("inputs") or {}
        inputs = self._coerce_inputs(wf, spec_inputs, self.options.inputs, github)
        return self._run_workflow(wf, job, github, inputs, dict(self.options.secrets), prefix="")

    # --- workflows -------------------------------------------------------------
    def _coerce_inputs(
        self, wf: Workflow, spec: dict[str, Any], given: dict[str, Any], github: dict[str, Any]
    ) -> dict[str, Any]:
        unknown = sorted(set(given) - set(spec))
        if unknown:
            raise WorkflowError(f"{wf.path.name} has no input {unknown[0]!r} (inputs: {', '.join(spec) or 'none'})")
        scope = Scope({"github": github, "inputs": {}, "vars": self.options.vars})
        values: dict[str, Any] = {}
        for name, decl in spec.items():
            decl = decl or {}
            if name in given:
                raw = given[name]
            elif "default" in decl:
                raw = render(decl["default"], scope)
            elif decl.get("required"):
                raise WorkflowError(f"{wf.path.name}: required input {name!r} not given")
            else:
                raw = None
            kind = decl.get("type", "string")
            if kind == "boolean":
                values[name] = truthy(raw) if not isinstance(raw, str) else raw.strip().lower() == "true"
            elif kind == "number":
                try:
                    values[name] = float(raw) if raw not in (None, "") else 0.0
                except (TypeError, ValueError) as exc:
                    raise WorkflowError(f"{wf.path.name}: input {name!r} must be a number, got {raw!r}") from exc
            else:
                values[name] = "" if raw is None else to_str(raw)
        return values

    def _run_workflow(
        self,
        wf: Workflow,
        target: str | None,
        github: dict[str, Any],
        inputs: dict[str, Any],
        secrets: dict[str, str],
        prefix: str,
    ) -> WorkflowRun:
        results: dict[str, JobResult] = {}
        direct: dict[str, JobResult] = {}
        for job_id in job_order(wf, target):
            job = wf.jobs[job_id]
            deps = needs_of(job)
            needs_ctx = {d: {"outputs": direct[d].outputs, "result": direct[d].result} for d in deps}
            failed = any(direct[d].result == "failure" for d in deps)
            skipped = any(direct[d].result == "skipped" for d in deps)
            status = "failure" if failed else ("skipped" if skipped else "success")
            scope = Scope(
                {"github": {**github, "job": job_id}, "needs": needs_ctx, "inputs": inputs, "vars": self.options.vars},
                job_status=status,
            )
            full_id = prefix + job_id
            try:
                run_it = condition(job.get("if"), scope)
            except ExpressionError as exc:
                raise WorkflowError(f"{wf.path.name}: job {job_id!r} if: {exc}") from exc
            if not run_it:
                self.log(f"── job {full_id}: skipped")
                direct[job_id] = results[full_id] = JobResult(full_id, str(job.get("name") or job_id), "skipped")
                continue
            if "uses" in job:
                call_result, nested = self._run_call(wf, job_id, job, scope, secrets, prefix)
                results.update(nested)
                direct[job_id] = results[full_id] = call_result
            else:
                direct[job_id] = results[full_id] = self._run_job(wf, job_id, job, scope, secrets, full_id)
        outputs: dict[str, str] = {}
        out_spec = wf.call_spec.get("outputs") or {}
        if out_spec:
            jobs_ctx = {k: {"outputs": v.outputs, "result": v.result} for k, v in direct.items()}
            oscope = Scope({"jobs": jobs_ctx, "github": github, "inputs": inputs, "vars": self.options.vars})
            for name, decl in out_spec.items():
                outputs[name] = render_str((decl or {}).get("value", ""), oscope)
        return WorkflowRun(wf.path, results, outputs)

    def _run_call(
        self,
        wf: Workflow,
        job_id: str,
        job: dict[str, Any],
        scope: Scope,
        secrets: dict[str, str],
        prefix: str,
    ) -> tuple[JobResult, dict[str, JobResult]]:
        resolved = actions.resolve(str(job["uses"]), self.options.workspace, self.options.repos, job_level=True)
        assert isinstance(resolved, actions.ReusableWorkflow)
        called = load_workflow(resolved.path)
        if not called.is_reusable:
            raise WorkflowError(f"{resolved.path.name} is called by job {job_id!r} but has no 'on: workflow_call'")
        self.log(f"── job {prefix}{job_id}: calls {job['uses']}")
        with_ = render(job.get("with") or {}, scope)
        github = scope.contexts["github"]
        inputs = self._coerce_inputs(called, called.call_spec.get("inputs") or {}, with_, github)
        given = job.get("secrets")
        if given == "inherit":
            sub_secrets = dict(secrets)
        else:
            sscope = Scope({**scope.contexts, "secrets": secrets})
            sub_secrets = {k: render_str(v, sscope) for k, v in (given or {}).items()}
        for name, decl in (called.call_spec.get("secrets") or {}).items():
            if (decl or {}).get("required") and not sub_secrets.get(name):
                raise WorkflowError(f"{resolved.path.name}: required secret {name!r} not passed by job {job_id!r}")
        sub = self._run_workflow(called, None, github, inputs, sub_secrets, prefix=f"{prefix}{job_id}/")
        result = JobResult(
            prefix + job_id,
            str(job.get("name") or job_id),
            "success" if sub.ok else "failure",
            outputs=sub.outputs,
            error=sub.failure,
        )
        return result, sub.jobs

    # --- jobs ------------------------------------------------------------------
    def _run_job(
        self, wf: Workflow, job_id: str, job: dict[str, Any], scope: Scope, secrets: dict[str, str], full_id: str
    ) -> JobResult:
        if "services" in job:
            raise WorkflowError(f"job {job_id!r}: 'services' needs Docker, which the local harness does not use")
        if (job.get("strategy") or {}).get("matrix") is not None:
            raise WorkflowError(f"job {job_id!r}: matrix jobs are not supported by the local harness")
        contexts = {
            **scope.contexts,
            "secrets": {**secrets, "GITHUB_TOKEN": secrets.get("GITHUB_TOKEN", "")},
            "runner": self.runner,
            "job": {"status": "success"},
            "matrix": {},
            "strategy": {},
            "steps": {},
            "env": dict(self.options.env),
        }
        escope = Scope(contexts, hash_files=self._hash_files)
        env = dict(self.options.env)
        for layer in (wf.env, job.get("env") or {}):
            for k, v in layer.items():
                env[k] = render_str(v, escope)
                contexts["env"] = dict(env)
        runs_on = render(job.get("runs-on"), escope)
        name = render_str(job.get("name") or job_id, escope)
        self.log(f"── job {full_id} (runs-on: {json.dumps(runs_on)})")
        container = _container_image(job.get("container"), escope)
        if container is not None:
            # Starting the image needs a container engine on a GitHub-hosted runner; here the job's steps run on
            # this machine, which should be what the image is (CI's image is the development machines' Debian).
            self.log(f"   container {container!r} not started: the local harness runs the job's steps on this machine")
        defaults_run = {**(wf.defaults.get("run") or {}), **((job.get("defaults") or {}).get("run") or {})}
        frame = _Frame(contexts, _JobState(env), defaults_run, label=full_id)
        steps = job.get("steps") or []
        self._run_steps(frame, steps)
        contexts["job"] = {"status": frame.status}
        outputs: dict[str, str] = {}
        oscope = Scope(contexts, job_status=frame.status)
        for out_name, value in (job.get("outputs") or {}).items():
            try:
                outputs[out_name] = render_str(value, oscope)
            except ExpressionError as exc:
                raise WorkflowError(f"job {job_id!r} output {out_name!r}: {exc}") from exc
        error = next((s.error for s in frame.results if s.conclusion == "failure" and s.error), None)
        result = "failure" if frame.status == "failure" else "success"
        self.log(f"── job {full_id}: {result}")
        summary = "".join(frame.state.summary)
        return JobResult(full_id, name, result, outputs, frame.results, runs_on, error, summary, container)

    def _hash_files(self, patterns: list[str]) -> str:
        digest = hashlib.sha256()
        found = False
        for pattern in patterns:
            for path in sorted(self.options.workspace.glob(pattern)):
                if path.is_file():
                    found = True
                    digest.update(hashlib.sha256(path.read_bytes()).digest())
        return digest.hexdigest() if found else ""

    # --- steps -----------------------------------------------------------------
    def _run_steps(self, frame: _Frame, steps: list[dict[str, Any]]) -> None:
        for index, step in enumerate(steps):
            if not isinstance(step, dict):
                raise WorkflowError(f"{frame.label}: step {index + 1} must be a mapping")
            result = self._run_step(frame, step, index)
            frame.results.append(result)
            frame.contexts["steps"][result.id] = {
                "outputs": result.outputs,
                "outcome": result.outcome,
                "conclusion": result.conclusion,
            }
            if result.conclusion == "failure":
                frame.status = "failure"

    def _step_scope(self, frame: _Frame, env_ctx: dict[str, str]) -> Scope:
        return Scope({**frame.contexts, "env": env_ctx}, job_status=frame.status, hash_files=self._hash_files)

    def _run_step(self, frame: _Frame, step: dict[str, Any], index: int) -> StepResult:
        step_id = str(step.get("id") or f"__step{index + 1}")
        base_env = {**frame.state.env, **frame.step_env}
        scope = self._step_scope(frame, base_env)
        label = step.get("name") or step.get("uses") or str(step.get("run", "")).strip().splitlines()[0:1]
        name = render_str(label if isinstance(label, str) else (label[0] if label else step_id), scope)
        try:
            if not condition(step.get("if"), scope):
                self.log(f"   step {name}: skipped")
                return StepResult(step_id, name, "skipped", "skipped")
            env = dict(base_env)
            for k, v in (step.get("env") or {}).items():
                env[k] = render_str(v, scope)
            scope = self._step_scope(frame, env)
            self.log(f"── step {name}")
            if "run" in step:
                outcome, outputs, log, error = self._run_shell(frame, step, scope, env)
            elif "uses" in step:
                outcome, outputs, log, error = self._run_uses(frame, step, scope, env)
            else:
                raise WorkflowError(f"{frame.label}: step {name!r} has neither 'run' nor 'uses'")
        except ExpressionError as exc:
            raise WorkflowError(f"{frame.label}: step {name!r}: {exc}") from exc
        continue_on_error = truthy(render(step.get("continue-on-error", False), scope))
        if error and "uses" in step:
            error = f"step {name!r} ({step['uses']}) failed: {error}"
        conclusion = "success" if outcome == "success" or continue_on_error else "failure"
        return StepResult(step_id, name, outcome, conclusion, outputs, log, None if outcome == "success" else error)

    def _run_shell(
        self, frame: _Frame, step: dict[str, Any], scope: Scope, env: dict[str, str]
    ) -> tuple[str, dict[str, str], list[str], str | None]:
        script = render_str(step["run"], scope)
        shell = step.get("shell") or frame.defaults_run.get("shell")
        if frame.action_path is not None and not shell:
            raise WorkflowError(f"{frame.label}: composite action run steps need 'shell:'")
        workdir = render_str(step.get("working-directory") or frame.defaults_run.get("working-directory") or ".", scope)
        cwd = (self.options.workspace / workdir).resolve()
        proc_env = {**self.base_env, **env}
        if frame.state.path:
            proc_env["PATH"] = ":".join([*reversed(frame.state.path), proc_env.get("PATH", "")])
        if frame.action_path is not None:
            proc_env["GITHUB_ACTION_PATH"] = str(frame.action_path)
        timeout = step.get("timeout-minutes")
        result = run_script(
            script,
            shell=str(shell) if shell else None,
            cwd=cwd,
            env=proc_env,
            temp=self.temp,
            masks=self.masks,
            log=self.log,
            timeout_s=float(timeout) * 60 if timeout else None,
        )
        frame.state.env.update(result.env)
        frame.state.path.extend(result.path)
        if result.summary:
            frame.state.summary.append(result.summary)
        if result.exit_code == 0:
            return "success", result.outputs, result.log, None
        reason = result.errors[-1] if result.errors else next((ln for ln in reversed(result.log) if ln.strip()), "")
        what = "timed out" if result.timed_out else f"exit {result.exit_code}"
        return (
            "failure",
            result.outputs,
            result.log,
            f"step {step.get('name') or step.get('id') or 'run'!r} failed ({what}): {reason.strip()}",
        )

    def _run_uses(
        self, frame: _Frame, step: dict[str, Any], scope: Scope, env: dict[str, str]
    ) -> tuple[str, dict[str, str], list[str], str | None]:
        uses = str(step["uses"])
        resolved = actions.resolve(uses, self.options.workspace, self.options.repos, job_level=False)
        with_ = {k: render_str(v, scope) for k, v in (step.get("with") or {}).items()}
        if isinstance(resolved, actions.BuiltinAction):
            try:
                builtin = actions.BuiltinContext(self.options.workspace, self.temp, self.options.python)
                outputs = resolved.fn(builtin, with_)
            except WorkflowError as exc:
                return "failure", {}, [], str(exc)
            return "success", outputs, [], None
        assert isinstance(resolved, actions.CompositeAction)
        return self._run_composite(frame, resolved, uses, with_, env)

    def _run_composite(
        self, frame: _Frame, action: actions.CompositeAction, uses: str, with_: dict[str, str], env: dict[str, str]
    ) -> tuple[str, dict[str, str], list[str], str | None]:
        spec_inputs = action.spec.get("inputs") or {}
        unknown = sorted(set(with_) - set(spec_inputs))
        if unknown:
            raise WorkflowError(f"uses: {uses}: unknown input {unknown[0]!r} (inputs: {', '.join(spec_inputs)})")
        github = {**frame.contexts["github"], "action_path": str(action.path)}
        dscope = Scope({"github": github, "inputs": {}, "env": env, "runner": self.runner})
        inputs: dict[str, str] = {}
        for name, decl in spec_inputs.items():
            decl = decl or {}
            if name in with_:
                inputs[name] = with_[name]
            elif "default" in decl:
                inputs[name] = render_str(decl["default"], dscope)
            elif decl.get("required"):
                raise WorkflowError(f"uses: {uses}: required input {name!r} not given")
            else:
                inputs[name] = ""
        contexts = {
            "github": github,
            "inputs": inputs,
            "steps": {},
            "runner": self.runner,
            "job": frame.contexts.get("job", {}),
            "vars": self.options.vars,
            "matrix": {},
            "strategy": {},
        }
        inner = _Frame(
            contexts,
            frame.state,
            {},
            status=frame.status,
            action_path=action.path,
            step_env=env,
            label=f"{frame.label} > {uses}",
        )
        self._run_steps(inner, (action.spec.get("runs") or {}).get("steps") or [])
        oscope = Scope({**contexts, "env": {**frame.state.env, **env}}, job_status=inner.status)
        outputs = {
            n: render_str((d or {}).get("value", ""), oscope) for n, d in (action.spec.get("outputs") or {}).items()
        }
        log = [line for s in inner.results for line in s.log]
        if inner.status == "failure":
            error = next((s.error for s in inner.results if s.conclusion == "failure"), None)
            return "failure", outputs, log, error or "a step failed"
        return "success", outputs, log, None


def run_workflow(path: Path, job: str | None = None, options: RunOptions | None = None) -> WorkflowRun:
    """Run `job` (and the jobs it needs) of the workflow at `path`; every job when `job` is None."""
    opts = options or RunOptions(workspace=Path.cwd())
    return Harness(opts).run(Path(path), job)


def _container_image(spec: Any, scope: Scope) -> str | None:
    """``container: IMAGE`` or ``container: {image: IMAGE, ...}``, rendered; None when the job has none."""
    if spec is None:
        return None
    image = spec.get("image") if isinstance(spec, dict) else spec
    return render_str(str(image), scope) if image else None
