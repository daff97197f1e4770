"""Entry point: the root Typer app; each command group lives in its own module."""

from __future__ import annotations

from typing import Any

import typer
from typer import _click as click  # typer >= 0.20 vendors its own click
from typer.core import TyperGroup
from typer.models import CommandInfo, TyperInfo

from toolkit import __version__
from toolkit.cli import output
from toolkit.errors import PitlaneError


class PitlaneGroup(TyperGroup):
    """Turns every PitlaneError raised anywhere below into one line and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PitlaneError as exc:
            output.error_line(str(exc) or type(exc).__name__)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            output.error_line("interrupted")
            raise typer.Exit(130) from None


app = typer.Typer(
    name="pitlane",
    cls=PitlaneGroup,
    help="Git-native MLOps for autonomous driving: find bag data, build datasets, "
    "run reproducible experiments, release and trace model packages.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pitlane {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show version."),
) -> None:
    """Pitlane command line."""


# --help groups commands by the loop they belong to (DESIGN.md's command list).
PANELS: dict[str, list[str]] = {
    "Data": ["data"],
    "Datasets and annotation": ["dataset", "annotate", "autolabel"],
    "Experiments": ["init", "compose", "run", "runs"],
    "Packages and registry": [
        "release", "package", "remote", "access", "token", "login", "eval", "firmware", "deploy", "trace", "audit",
        "serve",
    ],
    "CI/CD": ["ci"],
}
_PANEL_OF = {name: panel for panel, names in PANELS.items() for name in names}


def _register_all() -> None:
    from toolkit.cli import registered_modules

    for module in registered_modules():
        module.register(app)
    infos: list[CommandInfo | TyperInfo] = [*app.registered_commands, *app.registered_groups]
    for info in infos:
        name = info.name or (info.callback.__name__ if info.callback else None)
        if name in _PANEL_OF and not info.rich_help_panel:
            info.rich_help_panel = _PANEL_OF[name]


_register_all()


def main() -> None:
    app()
