"""`pitlane ci`: run a workflow's jobs locally and lint workflow files."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from toolkit.cli import output
from toolkit.errors import UsageError, WorkflowError

ci_app = typer.Typer(help="CI/CD: run GitHub workflows locally, lint workflow files.", no_args_is_help=True)


def _pairs(values: list[str], what: str, *, from_env: bool = False) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep:
            if from_env and key in os.environ:
                # `--secret NAME` takes the value from the environment, keeping it off the command line.
                pairs[key] = os.environ[key]
                continue
            raise UsageError(f"{what} {item!r}: expected KEY=VALUE")
        if not key:
            raise UsageError(f"{what} {item!r}: empty key")
        pairs[key] = value
    return pairs


def _workflow_path(workflow: str, workspace: Path) -> Path:
    candidate = Path(workflow)
    if candidate.is_file():
        return candidate
    for name in (workflow, f"{workflow}.yml", f"{workflow}.yaml"):
        path = workspace / ".github" / "workflows" / name
        if path.is_file():
            return path
    raise WorkflowError(f"no workflow {workflow!r} (neither a file nor in {workspace / '.github' / 'workflows'})")


def run_cmd(
    workflow: str = typer.Argument(..., help="Workflow file, or its name under .github/workflows."),
    job: str | None = typer.Argument(None, help="Job to run (with the jobs it needs); all jobs when omitted."),
    event: str = typer.Option("push", "--event", "-e", help="push, pull_request, tag or workflow_dispatch."),
    ref: str | None = typer.Option(None, "--ref", help="Branch (push, pull_request) or tag (tag); default HEAD."),
    base_ref: str = typer.Option("main", "--base-ref", help="Base branch of a pull_request."),
    inputs: list[str] = typer.Option([], "--input", "-i", help="Workflow input KEY=VALUE (repeatable)."),
    env: list[str] = typer.Option([], "--env", help="Environment KEY=VALUE for every step (repeatable)."),
    secrets: list[str] = typer.Option([], "--secret", "-s", help="Secret KEY=VALUE, or KEY to read $KEY."),
    variables: list[str] = typer.Option([], "--var", help="Configuration variable KEY=VALUE (the `vars` context)."),
    repos: list[str] = typer.Option([], "--repo", help="OWNER/REPO=PATH: where remote `uses:` resolve."),
    workspace: Path = typer.Option(Path("."), "--workspace", "-w", help="Repository to run in."),
    python: Path | None = typer.Option(
        None, "--python", help="The runner's Python (what actions/setup-python provides); default: pitlane's own."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the run's result as JSON."),
) -> None:
    """Run WORKFLOW's JOB on this machine with a GitHub-like environment."""
    from toolkit.ci import RunOptions, run_workflow

    repo_map = {k: Path(v).resolve() for k, v in _pairs(repos, "--repo").items()}
    options = RunOptions(
        workspace=workspace,
        event=event,
        ref=ref,
        base_ref=base_ref,
        inputs=dict(_pairs(inputs, "--input")),
        env=_pairs(env, "--env"),
        secrets=_pairs(secrets, "--secret", from_env=True),
        vars=_pairs(variables, "--var"),
        repos=repo_map,
        python=python.absolute() if python is not None else None,
        # Step output goes to stderr, so --json keeps stdout to one document.
        log=lambda line: output.err_console.print(line, markup=False, highlight=False),
    )
    result = run_workflow(_workflow_path(workflow, options.workspace), job, options)
    if as_json:
        output.print_json(result.to_dict())
    else:
        output.print_table(
            f"{result.workflow.name}",
            ["job", "result", "runs-on", "outputs"],
            [
                (j.id, j.result, j.runs_on, ", ".join(f"{k}={v}" for k, v in j.outputs.items()))
                for j in result.jobs.values()
            ],
        )
    result.raise_for_failure()


def lint_cmd(
    files: list[Path] = typer.Argument(None, help="Workflow files; the repository's .github/workflows when omitted."),
) -> None:
    """Check workflow files with actionlint; prints its findings, exit 1 when there are any."""
    from toolkit.ci import lint

    findings = lint(list(files or []))
    for finding in findings:
        output.console.print(str(finding), markup=False)
    if findings:
        first = findings[0]
        more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
        raise WorkflowError(f"{first.path}:{first.line}:{first.column}: {first.message}{more}")
    output.info("actionlint: no findings")


def plan_cmd(
    stage: str = typer.Option("train", "--stage", help="Stage whose resources pick the runner."),
    repo: Path = typer.Option(Path("."), "--repo", help="Experiment repository."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of KEY=VALUE lines."),
) -> None:
    """Print a stage's runner labels and resources as GITHUB_OUTPUT lines (runner=["self-hosted","gpu"])."""
    from toolkit.ci.plan import stage_plan

    plan = stage_plan(repo, stage)
    if as_json:
        output.print_json(plan)
        return
    for key, value in plan.items():
        typer.echo(f"{key}={value}")


def verify_release_cmd(
    tag: str = typer.Argument(..., help="Release tag NAME@VERSION (refs/tags/ prefix allowed)."),
    repo: Path = typer.Option(Path("."), "--repo", help="Repository holding the tag."),
    remote: bool = typer.Option(False, "--remote/--no-remote", help="Also fetch the files from the DVC remote."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of KEY=VALUE lines."),
) -> None:
    """Check a release tag: grammar, manifest, and that its commit tracks the files (GITHUB_OUTPUT lines)."""
    from toolkit.ci.verify import verify_release

    verified = verify_release(repo, tag, check_remote=remote)
    values = {"tag": verified.tag, "name": verified.name, "version": verified.version, "commit": verified.commit}
    if as_json:
        output.print_json({**values, "files": verified.files})
        return
    for key, value in values.items():
        typer.echo(f"{key}={value}")
    output.info(f"verified {verified.tag}: {len(verified.files)} file(s) at {verified.commit[:12]}")


def notify_cmd(
    registry: str = typer.Option(..., "--registry", envvar="PITLANE_REGISTRY_URL", help="Registry base URL."),
    ref: str = typer.Option(..., "--ref", envvar="GITHUB_REF", help="The pushed ref, e.g. refs/tags/NAME@VERSION."),
    sha: str = typer.Option(..., "--sha", envvar="GITHUB_SHA", help="The commit the ref points at."),
    repository: str = typer.Option(..., "--repository", envvar="GITHUB_REPOSITORY", help="OWNER/REPO."),
    clone_url: str = typer.Option(
        "", "--clone-url", help="Where the registry fetches the repo (default: https://github.com/OWNER/REPO.git)."
    ),
    secret: str | None = typer.Option(None, "--secret", envvar="PITLANE_WEBHOOK_SECRET", help="Webhook HMAC secret."),
    as_json: bool = typer.Option(False, "--json", help="Print the registry's answer as JSON."),
) -> None:
    """Send the registry a GitHub-format push webhook for REF (what the release workflow does)."""
    from toolkit.ci.notify import notify_registry
    from toolkit.config import get_settings

    url = clone_url or f"https://github.com/{repository}.git"
    answer = notify_registry(
        registry, ref=ref, sha=sha, repository=repository, clone_url=url, secret=secret, token=get_settings().token
    )
    if as_json:
        output.print_json(answer)
    else:
        output.info(f"registry notified of {ref}")


ci_app.command("run")(run_cmd)
ci_app.command("plan")(plan_cmd)
ci_app.command("verify-release")(verify_release_cmd)
ci_app.command("notify")(notify_cmd)
ci_app.command("lint")(lint_cmd)


def register(app: typer.Typer) -> None:
    app.add_typer(ci_app, name="ci")
