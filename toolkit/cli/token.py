"""`pitlane token` and `pitlane login`: API tokens for the registry."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from toolkit.cli import output
from toolkit.config import get_settings


def _save_private(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")
    os.chmod(path, 0o600)
    return path


token_app = typer.Typer(help="Create, list and revoke registry API tokens.", no_args_is_help=True)
JSON_OPT = typer.Option(False, "--json", help="print one JSON document")


@token_app.command("create")
def create_cmd(
    name: str = typer.Argument("cli", help="a label for the token (for --robot: the robot's name)"),
    user: str | None = typer.Option(None, "--user", "-u", help="for another user (registry admins)"),
    project: str | None = typer.Option(None, "--project", "-p", help="limit the token to one project"),
    scope: list[str] = typer.Option(None, "--scope", "-s", help="limit to actions, e.g. packages:read (repeat)"),
    robot: bool = typer.Option(False, "--robot", help="a CI robot identity: needs --project and --scope"),
    expires_days: int | None = typer.Option(None, "--expires-days", help="expire after N days"),
    bootstrap: bool = typer.Option(
        False,
        "--bootstrap",
        help="create a registry admin token directly in the server's database (run on the server; no token needed)",
    ),
    json_out: bool = JSON_OPT,
) -> None:
    """Create a token; the secret is printed once and stored only as a hash."""
    if bootstrap:
        from registry.bootstrap import bootstrap_token

        token, prefix = bootstrap_token(name if name != "cli" else "admin")
        saved = _save_private(get_settings().home / "admin-token", token)
        if json_out:
            output.print_json({"token": token, "prefix": prefix, "user": "admin", "saved_to": str(saved)})
        else:
            typer.echo(token)
            output.info(f"admin token {prefix} created and saved to {saved} (mode 0600); it is not shown again")
        return
    from toolkit.client import connect

    with connect() as client:
        new = client.create_token(
            name, user=user, project=project, scopes=scope or None, robot=robot, expires_days=expires_days
        )
    if json_out:
        output.print_json(new)
        return
    typer.echo(new.token)
    output.info(f"token {new.prefix} for {new.user} created: store it now, it is not shown again")


@token_app.command("list")
def list_cmd(
    all_users: bool = typer.Option(False, "--all", help="every user's tokens (registry admins)"),
    json_out: bool = JSON_OPT,
) -> None:
    """List tokens (never their secrets)."""
    from toolkit.client import connect

    with connect() as client:
        rows = client.list_tokens(all_users=all_users)
    if json_out:
        output.print_json(rows)
        return
    output.print_table(
        None,
        ["prefix", "name", "user", "project", "scopes", "expires", "state"],
        [
            (
                t.prefix,
                t.name,
                t.user,
                t.project or "",
                ", ".join(t.scopes) if t.scopes is not None else "all",
                f"{t.expires_at:%Y-%m-%d}" if t.expires_at else "",
                "revoked" if t.revoked_at else "active",
            )
            for t in rows
        ],
    )


@token_app.command("revoke")
def revoke_cmd(prefix: str = typer.Argument(..., help="the token's prefix (see `pitlane token list`)")) -> None:
    """Revoke a token at once (audited)."""
    from toolkit.client import connect

    with connect() as client:
        row = client.revoke_token(prefix)
    output.info(f"revoked token {row.prefix} ({row.name})")


def login_command(
    url: str = typer.Argument(..., help="registry URL, e.g. https://registry.example.com"),
    token: str = typer.Option(..., "--token", "-t", help="API token", prompt=True, hide_input=True),
) -> None:
    """Check a token against a registry and save both in PITLANE_HOME/credentials (mode 0600)."""
    from toolkit.client import RegistryClient, save_credentials

    with RegistryClient(url, token) as client:
        me = client.me()
    path = save_credentials(url, token)
    output.info(f"logged in to {url} as {me.name}; credentials in {path}")


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token")
    app.command("login")(login_command)
