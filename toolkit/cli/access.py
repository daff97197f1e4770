"""`pitlane access`: roles in projects, per-package grants and shares, projects and users."""

from __future__ import annotations

from pathlib import Path

import typer

from toolkit.cli import output

access_app = typer.Typer(
    help="Who may do what: project roles, package grants, cross-project shares.", no_args_is_help=True
)
project_app = typer.Typer(help="Create and list projects.", no_args_is_help=True)
user_app = typer.Typer(help="Create and list users (registry admins).", no_args_is_help=True)
key_app = typer.Typer(help="Release signing keys and a project's trust roots.", no_args_is_help=True)

JSON_OPT = typer.Option(False, "--json", help="print one JSON document")
ROLE_HELP = "viewer, developer, maintainer or admin"


def _subject(user: str | None, project: str | None) -> None:
    from toolkit.errors import UsageError

    if (user is None) == (project is None):
        raise UsageError("name exactly one of --user or --project")


@access_app.command("grant")
def grant_cmd(
    role: str = typer.Argument(..., help=ROLE_HELP),
    user: str | None = typer.Option(None, "--user", "-u", help="the user to grant"),
    project: str | None = typer.Option(
        None,
        "--project",
        "-p",
        help="project: where the role applies, or with --package and without --user, the project to share with",
    ),
    package: str | None = typer.Option(None, "--package", help="PROJECT/NAME: grant on this package only"),
    json_out: bool = JSON_OPT,
) -> None:
    """Give a user a role in a project, or a user/project a role on one package (a share)."""
    from toolkit.client import connect
    from toolkit.errors import UsageError

    with connect() as client:
        if package:
            _subject(user, project)
            pkg = client.find_package(package)
            result: object = client.grant_package(pkg.project, pkg.name, user=user, to_project=project, role=role)
        else:
            if not user or not project:
                raise UsageError("a project role needs --user and --project")
            result = client.grant_role(project, user, role)
    if json_out:
        output.print_json(result)
        return
    output.info(f"granted {role}")


@access_app.command("revoke")
def revoke_cmd(
    user: str | None = typer.Option(None, "--user", "-u"),
    project: str | None = typer.Option(None, "--project", "-p"),
    package: str | None = typer.Option(None, "--package", help="PROJECT/NAME"),
) -> None:
    """Remove a user's project role, or a user's/project's grant on a package."""
    from toolkit.client import connect
    from toolkit.errors import UsageError

    with connect() as client:
        if package:
            _subject(user, project)
            pkg = client.find_package(package)
            client.revoke_package(pkg.project, pkg.name, user=user, to_project=project)
        else:
            if not user or not project:
                raise UsageError("revoking a project role needs --user and --project")
            client.revoke_role(project, user)
    output.info("revoked")


@access_app.command("list")
def list_cmd(
    project: str | None = typer.Option(None, "--project", "-p", help="members of this project"),
    package: str | None = typer.Option(None, "--package", help="grants and shares of PROJECT/NAME"),
    json_out: bool = JSON_OPT,
) -> None:
    """List a project's members or a package's grants (default: your own roles)."""
    from toolkit.client import connect

    with connect() as client:
        if package:
            pkg = client.find_package(package)
            grants = client.list_grants(pkg.project, pkg.name)
            if json_out:
                output.print_json(grants)
                return
            output.print_table(
                None,
                ["package", "user", "project", "role"],
                [(g.package, g.user or "", g.project or "", g.role) for g in grants],
            )
            return
        if project:
            members = client.list_members(project)
            if json_out:
                output.print_json(members)
                return
            output.print_table(None, ["user", "kind", "role"], [(m.user, m.kind, m.role) for m in members])
            return
        me = client.me()
    if json_out:
        output.print_json(me)
        return
    output.console.print(f"{me.name}{' (registry admin)' if me.is_admin else ''}", markup=False)
    output.print_table(None, ["project", "role"], sorted(me.roles.items()))


@project_app.command("create")
def project_create(
    name: str = typer.Argument(...),
    description: str = typer.Option("", "--description", "-d"),
    json_out: bool = JSON_OPT,
) -> None:
    """Create a project (registry admins)."""
    from toolkit.client import connect

    with connect() as client:
        result = client.create_project(name, description)
    if json_out:
        output.print_json(result)
        return
    output.info(f"created project {result.name}")


@project_app.command("list")
def project_list(json_out: bool = JSON_OPT) -> None:
    """List the projects you belong to (admins: all)."""
    from toolkit.client import connect

    with connect() as client:
        projects = client.list_projects()
    if json_out:
        output.print_json(projects)
        return
    output.print_table(
        None,
        ["project", "your role", "protected channels", "description"],
        [(p.name, p.role or "", ", ".join(p.protected_channels), p.description) for p in projects],
    )


@project_app.command("protect")
def project_protect(
    name: str = typer.Argument(...),
    channels: list[str] = typer.Argument(..., help="channels only maintainers+ may move"),
) -> None:
    """Set a project's protected channels (project admins)."""
    from toolkit.client import connect

    with connect() as client:
        result = client.set_protected_channels(name, channels)
    output.info(f"protected channels of {result.name}: {', '.join(result.protected_channels) or '(none)'}")


@user_app.command("create")
def user_create(
    name: str = typer.Argument(...),
    admin: bool = typer.Option(False, "--admin", help="a registry admin"),
    json_out: bool = JSON_OPT,
) -> None:
    """Create a user (registry admins); then `pitlane token create --user NAME`."""
    from toolkit.client import connect

    with connect() as client:
        result = client.create_user(name, is_admin=admin)
    if json_out:
        output.print_json(result)
        return
    output.info(f"created user {result.name}")


@user_app.command("list")
def user_list(json_out: bool = JSON_OPT) -> None:
    """List users (registry admins)."""
    from toolkit.client import connect

    with connect() as client:
        users = client.list_users()
    if json_out:
        output.print_json(users)
        return
    output.print_table(None, ["user", "kind", "admin"], [(u.name, u.kind, "yes" if u.is_admin else "") for u in users])


@key_app.command("create")
def key_create(path: Path = typer.Argument(..., help="where to write the Ed25519 private key (PEM, 0600)")) -> None:
    """Create a release signing key; prints its key id and public key (register it with `key add`)."""
    from toolkit.release.signing import create_key

    kid, pem = create_key(path)
    output.info(f"key {kid} written to {path}; public key:")
    output.info(pem.rstrip())


@key_app.command("add")
def key_add(
    project: str = typer.Argument(...),
    public_key: Path = typer.Argument(..., help="public key PEM file (or the private key: its public half is used)"),
) -> None:
    """Make a public key a trust root of a project (project admins)."""
    from toolkit.client import connect
    from toolkit.release.signing import load_private_key, public_pem

    text = public_key.read_text()
    pem = public_pem(load_private_key(public_key).public_key()) if "PRIVATE KEY" in text else text
    with connect() as client:
        root = client.request("POST", f"/projects/{project}/trust-roots", json={"public_key": pem}).json()
    output.info(f"trust root {root['keyid']} added to {project}")


@key_app.command("revoke")
def key_revoke(
    project: str = typer.Argument(...),
    keyid: str = typer.Argument(...),
    at: str | None = typer.Option(None, "--at", help="ISO time from which its signatures are invalid (default: now)"),
) -> None:
    """Revoke a trust root: what it signed before the revocation time stays verified (a rotation)."""
    from toolkit.client import connect

    with connect() as client:
        root = client.request("POST", f"/projects/{project}/trust-roots/{keyid}/revoke", json={"revoked_at": at}).json()
    output.info(f"trust root {keyid} of {project} revoked at {root['revoked_at']}")


@key_app.command("list")
def key_list(project: str = typer.Argument(...), json_out: bool = JSON_OPT) -> None:
    """A project's trust roots."""
    from toolkit.client import connect

    with connect() as client:
        roots = client.request("GET", f"/projects/{project}/trust-roots").json()
    if json_out:
        output.print_json(roots)
        return
    for r in roots:
        output.info(f"{r['keyid']}  added {r['added_at']} by {r['added_by']}  revoked {r['revoked_at'] or '-'}")


def register(app: typer.Typer) -> None:
    access_app.add_typer(key_app, name="key")
    access_app.add_typer(project_app, name="project")
    access_app.add_typer(user_app, name="user")
    app.add_typer(access_app, name="access")
