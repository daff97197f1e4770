"""`pitlane access`: roles in projects, per-package grants and shares, projects and users."""

from __future__ import annotations

import typer

from toolkit.cli import output

access_app = typer.Typer(
    help="Who may do what: project roles, package grants, cross-project shares.", no_args_is_help=True
)
project_app = typer.Typer(help="Create and list projects.", no_args_is_help=True)
user_app = typer.Typer(help="Create and list users (registry admins).", no_args_is_help=True)

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


def register(app: typer.Typer) -> None:
    access_app.add_typer(project_app, name="project")
    access_app.add_typer(user_app, name="user")
    app.add_typer(access_app, name="access")
