"""`pitlane package`: list, show, pull, channel, deprecate registry packages."""

from __future__ import annotations

from pathlib import Path

import typer

from toolkit.cli import output

package_app = typer.Typer(help="Browse, pull and manage registry packages (versions, channels).", no_args_is_help=True)

JSON_OPT = typer.Option(False, "--json", help="print one JSON document")


@package_app.command("list")
def list_cmd(
    project: str | None = typer.Option(None, "--project", "-p", help="only this project"),
    query: str | None = typer.Option(None, "--query", "-q", help="substring of name or description"),
    json_out: bool = JSON_OPT,
) -> None:
    """List the packages you can see."""
    from toolkit.client import connect

    with connect() as client:
        pkgs = client.list_packages(project=project, query=query)
    if json_out:
        output.print_json(pkgs)
        return
    output.print_table(
        None,
        ["project", "package", "versions", "latest", "channels", "your role"],
        [
            (
                p.project,
                p.name,
                p.version_count,
                p.latest or "-",
                ", ".join(f"{c}={v}" for c, v in sorted(p.channels.items())),
                p.role,
            )
            for p in pkgs
        ],
    )


@package_app.command("show")
def show_cmd(
    ref: str = typer.Argument(..., help="[PROJECT/]NAME, NAME@VERSION or NAME@CHANNEL"),
    json_out: bool = JSON_OPT,
) -> None:
    """Show a package (versions and channels) or one resolved version (files)."""
    from toolkit.client import connect

    with connect() as client:
        if "@" in ref or "#" in ref:
            version = client.resolve(ref)
            if json_out:
                output.print_json(version)
                return
            state = " (deprecated)" if version.deprecated else ""
            output.console.print(f"{version.project}/{version.package}@{version.version}{state}", markup=False)
            output.console.print(
                f"commit {version.commit or '-'}  published {version.created_at:%Y-%m-%d %H:%M} "
                f"by {version.created_by}",
                markup=False,
            )
            output.print_table("files", ["path", "md5", "size"], [(f.path, f.md5, f.size) for f in version.files])
            return
        pkg = client.find_package(ref)
        versions = client.list_versions(pkg.project, pkg.name)
    if json_out:
        output.print_json({"package": pkg, "versions": versions})
        return
    output.console.print(f"{pkg.project}/{pkg.name}  {pkg.description}", markup=False)
    output.print_table(
        None,
        ["version", "channels", "published", "by", "files", "state"],
        [
            (
                v.version,
                ", ".join(v.channels),
                f"{v.created_at:%Y-%m-%d %H:%M}",
                v.created_by,
                len(v.files),
                "deprecated" if v.deprecated else "",
            )
            for v in versions
        ],
    )


@package_app.command("pull")
def pull_cmd(
    ref: str = typer.Argument(..., help="NAME@VERSION or NAME@CHANNEL (PROJECT/ prefix if ambiguous)"),
    out: Path = typer.Option(..., "--output", "-o", help="directory to create (must not exist or be empty)"),
    json_out: bool = JSON_OPT,
) -> None:
    """Download every file of a version, verifying each hash; writes all files or none."""
    from toolkit.client import connect

    with connect() as client:
        version = client.pull(ref, out)
    if json_out:
        output.print_json({"version": version, "output": str(out)})
        return
    total = sum(f.size for f in version.files)
    output.info(
        f"pulled {version.project}/{version.package}@{version.version}: {len(version.files)} files, "
        f"{total} bytes, all hashes verified -> {out}"
    )


@package_app.command("channel")
def channel_cmd(
    name: str = typer.Argument(..., help="[PROJECT/]NAME"),
    version: str = typer.Argument(..., help="version to point the channel at"),
    channel: str = typer.Argument(..., help="channel, e.g. staging or production"),
    json_out: bool = JSON_OPT,
) -> None:
    """Point a channel at a version (protected channels need maintainer or above; audited)."""
    from toolkit.client import connect

    with connect() as client:
        pkg = client.find_package(name)
        result = client.set_channel(pkg.project, pkg.name, channel, version)
    if json_out:
        output.print_json(result)
        return
    output.info(f"{result.package}#{result.channel} -> {result.version}")


@package_app.command("deprecate")
def deprecate_cmd(
    ref: str = typer.Argument(..., help="[PROJECT/]NAME@VERSION"),
    reason: str = typer.Option("", "--reason", "-r", help="why (shown to users of the version)"),
    json_out: bool = JSON_OPT,
) -> None:
    """Deprecate a version: it stays pullable by exact version, never deleted (maintainers+)."""
    from toolkit.client import connect
    from toolkit.errors import UsageError

    name, sep, version = ref.partition("@")
    if not sep or not version:
        raise UsageError("write the version to deprecate as NAME@VERSION")
    with connect() as client:
        pkg = client.find_package(name)
        result = client.deprecate(pkg.project, pkg.name, version, reason)
    if json_out:
        output.print_json(result)
        return
    output.info(f"deprecated {result.project}/{result.package}@{result.version}")


def register(app: typer.Typer) -> None:
    app.add_typer(package_app, name="package")
