"""`pitlane eval`, `firmware`, `deploy`, `trace`, `remote`: CI/CD evidence, lineage and Git remotes."""

from __future__ import annotations

import sys
from datetime import datetime

import typer

from toolkit.cli import output

eval_app = typer.Typer(help="Evaluations: simulation/CI evidence about package versions.", no_args_is_help=True)
firmware_app = typer.Typer(help="Firmware images: sets of exact package versions.", no_args_is_help=True)
deploy_app = typer.Typer(help="Deployments: which firmware runs on which vehicle.", no_args_is_help=True)
remote_app = typer.Typer(help="Git remotes whose release tags the registry syncs.", no_args_is_help=True)

JSON_OPT = typer.Option(False, "--json", help="print one JSON document")


@eval_app.command("add")
def eval_add(
    ref: str = typer.Argument(..., help="[PROJECT/]NAME@VERSION (a channel is pinned to its version now)"),
    suite: str = typer.Option(..., "--suite", "-s", help="simulation/test suite"),
    passed: int = typer.Option(..., "--passed", min=0),
    failed: int = typer.Option(..., "--failed", min=0),
    total: int | None = typer.Option(None, "--total", min=0, help="default: passed + failed"),
    verdict: str | None = typer.Option(None, "--verdict", help="pass or fail (default: fail if any failed)"),
    metrics: str | None = typer.Option(None, "--metrics", help="JSON object or @file.json"),
    ci_run_url: str = typer.Option("", "--ci-run-url", envvar="PITLANE_CI_RUN_URL", help="link to the CI run"),
    json_out: bool = JSON_OPT,
) -> None:
    """Record an evaluation (evidence: never edited; post a new one instead)."""
    from toolkit.client import connect
    from toolkit.errors import UsageError
    from toolkit.release import links

    chosen = verdict or ("fail" if failed else "pass")
    if chosen not in ("pass", "fail"):
        raise UsageError("--verdict must be pass or fail")
    with connect() as client:
        ev = links.add_evaluation(
            client,
            ref,
            suite=suite,
            passed=passed,
            failed=failed,
            total=passed + failed if total is None else total,
            verdict=chosen,
            metrics=links.load_metrics(metrics),
            ci_run_url=ci_run_url,
        )
    if json_out:
        output.print_json(ev)
        return
    output.info(
        f"evaluation #{ev.id}: {ev.project}/{ev.package}@{ev.version} {ev.suite} "
        f"{ev.passed}/{ev.total} passed -> {ev.verdict}"
    )


@eval_app.command("list")
def eval_list(
    ref: str = typer.Argument(..., help="[PROJECT/]NAME (all versions) or NAME@VERSION"),
    json_out: bool = JSON_OPT,
) -> None:
    """Evaluations of a package or one version, oldest first."""
    from toolkit.client import connect
    from toolkit.release import links

    with connect() as client:
        evals = links.list_evaluations(client, ref)
    if json_out:
        output.print_json(evals)
        return
    output.print_table(
        None,
        ["#", "version", "suite", "passed", "failed", "total", "verdict", "by", "CI run"],
        [(e.id, e.version, e.suite, e.passed, e.failed, e.total, e.verdict, e.posted_by, e.ci_run_url) for e in evals],
    )


@firmware_app.command("add")
def firmware_add(
    ref: str = typer.Argument(..., help="NAME@VERSION of the image"),
    packages: list[str] = typer.Option(..., "--package", "-p", help="[PROJECT/]NAME@VERSION it contains (repeat)"),
    project: str = typer.Option(..., "--project", help="project that owns the image"),
    description: str = typer.Option("", "--description", "-d"),
    ci_run_url: str = typer.Option("", "--ci-run-url", envvar="PITLANE_CI_RUN_URL"),
    json_out: bool = JSON_OPT,
) -> None:
    """Register a firmware image and the exact package versions inside it (immutable)."""
    from toolkit.client import connect
    from toolkit.release import links

    name, version = _split(ref)
    with connect() as client:
        fw = links.add_firmware(
            client, project, name, version, packages, description=description, ci_run_url=ci_run_url
        )
    if json_out:
        output.print_json(fw)
        return
    output.info(f"firmware {fw.name}@{fw.version}: " + ", ".join(f"{p.package}@{p.version}" for p in fw.packages))


def _split(ref: str) -> tuple[str, str]:
    from toolkit.errors import UsageError

    name, sep, version = ref.partition("@")
    if not sep or not name or not version:
        raise UsageError(f"invalid firmware reference {ref!r}: use NAME@VERSION")
    return name, version


@firmware_app.command("list")
def firmware_list(
    project: str | None = typer.Option(None, "--project"),
    json_out: bool = JSON_OPT,
) -> None:
    """Firmware images you can see."""
    from toolkit.client import connect
    from toolkit.release import links

    with connect() as client:
        images = links.list_firmware(client, project)
    if json_out:
        output.print_json(images)
        return
    output.print_table(
        None,
        ["firmware", "project", "packages", "by", "created"],
        [
            (
                f"{f.name}@{f.version}",
                f.project,
                ", ".join(f"{p.package}@{p.version}" for p in f.packages),
                f.created_by,
                f"{f.created_at:%Y-%m-%d %H:%M}",
            )
            for f in images
        ],
    )


@firmware_app.command("show")
def firmware_show(ref: str = typer.Argument(..., help="NAME@VERSION"), json_out: bool = JSON_OPT) -> None:
    """One firmware image and its packages."""
    from toolkit.client import connect
    from toolkit.release import links

    with connect() as client:
        fw = links.get_firmware(client, ref)
    if json_out:
        output.print_json(fw)
        return
    output.console.print(
        f"{fw.name}@{fw.version}  (project {fw.project}, by {fw.created_by}, {fw.created_at:%Y-%m-%d})", markup=False
    )
    if fw.description:
        output.console.print(fw.description, markup=False)
    output.print_table(
        None, ["project", "package", "version"], [(p.project, p.package, p.version) for p in fw.packages]
    )


@deploy_app.command("record")
def deploy_record(
    vehicle: str = typer.Argument(..., help="vehicle ID"),
    firmware: str = typer.Argument(..., help="firmware NAME@VERSION"),
    site: str = typer.Option("", "--site"),
    status: str = typer.Option("deployed", "--status", help="deployed, rolled-back, failed, ..."),
    at: str | None = typer.Option(None, "--at", help="ISO 8601 time it happened (default now)"),
    ci_run_url: str = typer.Option("", "--ci-run-url", envvar="PITLANE_CI_RUN_URL"),
    json_out: bool = JSON_OPT,
) -> None:
    """Record that a firmware image was deployed to a vehicle (append-only)."""
    from toolkit.client import connect
    from toolkit.errors import UsageError
    from toolkit.release import links

    when = None
    if at:
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            raise UsageError(f"invalid --at {at!r}: use ISO 8601, e.g. 2025-11-25T10:00:00+00:00") from None
    with connect() as client:
        d = links.record_deployment(
            client, vehicle, firmware, site=site, status=status, deployed_at=when, ci_run_url=ci_run_url
        )
    if json_out:
        output.print_json(d)
        return
    output.info(f"deployment #{d.id}: {d.vehicle} <- {d.firmware} ({d.status}{', ' + d.site if d.site else ''})")


@deploy_app.command("list")
def deploy_list(
    vehicle: str | None = typer.Option(None, "--vehicle"),
    firmware: str | None = typer.Option(None, "--firmware", help="NAME@VERSION"),
    current: bool = typer.Option(False, "--current", help="only what each vehicle runs now"),
    json_out: bool = JSON_OPT,
) -> None:
    """Deployments, oldest first."""
    from toolkit.client import connect
    from toolkit.release import links

    with connect() as client:
        rows = links.list_deployments(client, vehicle=vehicle, firmware=firmware, current=current)
    if json_out:
        output.print_json(rows)
        return
    output.print_table(
        None,
        ["#", "vehicle", "firmware", "site", "status", "deployed at", "by"],
        [
            (d.id, d.vehicle, d.firmware, d.site, d.status, f"{d.deployed_at:%Y-%m-%d %H:%M}", d.recorded_by)
            for d in rows
        ],
    )


def trace_command(
    subject: str = typer.Argument(..., help="vehicle:ID | firmware:NAME@V | package:[PROJECT/]NAME@V | bag:MD5"),
    json_out: bool = JSON_OPT,
) -> None:
    """Lineage: vehicle -> firmware -> package -> commit -> run record -> datasets -> slices -> source bags."""
    from toolkit.client import connect
    from toolkit.release import links

    with connect() as client:
        result = links.trace(client, subject)
    if json_out:
        output.print_json(result)
        return
    lines = [result.subject]
    lines += [
        f"  vehicle {v.vehicle}: {v.firmware} ({v.status}, {v.site or 'no site'}, {v.deployed_at:%Y-%m-%d})"
        for v in result.vehicles
    ]
    lines += [
        f"  firmware {fw.name}@{fw.version}: " + ", ".join(f"{p.package}@{p.version}" for p in fw.packages)
        for fw in result.firmware
    ]
    for p in result.packages:
        lines.append(f"  package {p.project}/{p.package}@{p.version}  commit {(p.commit or '?')[:12]}")
        if p.run:
            lines.append(f"    run record {p.run.get('path', 'run.json')}  sha256 {str(p.run.get('sha256', ''))[:16]}")
        lines += [f"    evaluation {e.suite}: {e.passed}/{e.total} {e.verdict}" for e in p.evaluations]
        lines += [f"    dependency {d.path}  md5 {d.md5}" for d in p.deps]
        lines += [f"    slice {b.slice_path} <- source bag {b.source_path or '?'}  md5 {b.source_md5}" for b in p.bags]
    # Plain lines (no Rich tree): long paths and hashes must never be cropped.
    sys.stdout.write("\n".join(lines) + "\n")
    if result.source_bags:
        output.info(f"{len(result.source_bags)} source bag(s): " + ", ".join(result.source_bags))


@remote_app.command("add")
def remote_add(
    project: str = typer.Argument(...),
    url: str = typer.Argument(..., help="Git URL of an experiment repo"),
    json_out: bool = JSON_OPT,
) -> None:
    """Register a Git remote: its release tags become the project's package versions."""
    from toolkit.client import connect
    from toolkit.release import links

    with connect() as client:
        remote = links.register_remote(client, project, url)
    if json_out:
        output.print_json(remote)
        return
    output.info(f"remote #{remote.id} registered for {project}: {remote.url}")


@remote_app.command("list")
def remote_list(project: str = typer.Argument(...), json_out: bool = JSON_OPT) -> None:
    """Registered remotes of a project and their last sync."""
    from toolkit.client import connect
    from toolkit.release import links

    with connect() as client:
        rows = links.list_remotes(client, project)
    if json_out:
        output.print_json(rows)
        return
    output.print_table(
        None,
        ["#", "url", "last sync", "last error"],
        [(r.id, r.url, r.last_synced_at, r.last_error or "") for r in rows],
    )


@remote_app.command("sync")
def remote_sync(remote_id: int = typer.Argument(...), json_out: bool = JSON_OPT) -> None:
    """Fetch the remote's tags now and record new versions and channel moves."""
    from toolkit.client import connect
    from toolkit.release import links

    with connect() as client:
        report = links.sync_remote(client, remote_id)
    if json_out:
        output.print_json(report)
        return
    output.info(
        f"{report.seen} new tag(s): {len(report.versions)} version(s), {len(report.channels)} channel "
        f"move(s), {len(report.errors)} error(s)"
    )
    for line in [*report.versions, *report.channels]:
        output.info(f"  {line}")
    for line in report.errors:
        output.info(f"  error: {line}")


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
    app.add_typer(firmware_app, name="firmware")
    app.add_typer(deploy_app, name="deploy")
    app.command("trace")(trace_command)
    app.add_typer(remote_app, name="remote")
