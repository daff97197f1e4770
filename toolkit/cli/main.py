"""Entry point: the root Typer app; each command group lives in its own module."""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer import _click as click  # typer >= 0.20 vendors its own click
from typer.core import TyperGroup
from typer.models import CommandInfo, TyperInfo

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


_app = typer.Typer(
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
        from toolkit import __version__

        typer.echo(f"pitlane {__version__}")
        raise typer.Exit()


@_app.callback()
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
        "release",
        "package",
        "remote",
        "access",
        "token",
        "login",
        "eval",
        "firmware",
        "deploy",
        "trace",
        "audit",
        "serve",
    ],
    "CI/CD": ["ci"],
}
_PANEL_OF = {name: panel for panel, names in PANELS.items() for name in names}


_registered: set[str] = set()


def _register(command: str | None) -> typer.Typer:
    from toolkit.cli import registered_modules

    for module in registered_modules(command):
        if module.__name__ not in _registered:
            module.register(_app)
            _registered.add(module.__name__)
    infos: list[CommandInfo | TyperInfo] = [*_app.registered_commands, *_app.registered_groups]
    for info in infos:
        name = info.name or (info.callback.__name__ if info.callback else None)
        if name in _PANEL_OF and not info.rich_help_panel:
            info.rich_help_panel = _PANEL_OF[name]
    return _app


def _command_in(argv: list[str]) -> str | None:
    """The top-level command of *argv*: no root option takes a value, so it is the first non-option."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def __getattr__(name: str) -> Any:
    # `from toolkit.cli.main import app` (tests, docs generation) gets every command group.
    if name == "app":
        return _register(None)
    raise AttributeError(name)


def main() -> None:
    _register(_command_in(sys.argv[1:]))()
