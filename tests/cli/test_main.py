from __future__ import annotations

import typer
from typer.testing import CliRunner

from toolkit.cli.main import PitlaneGroup, app
from toolkit.errors import ConflictError, NotFoundError, UserError

runner = CliRunner()


def test_version_prints_installed_version() -> None:
    from toolkit import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"pitlane {__version__}"


def _app_raising(exc: Exception) -> typer.Typer:
    probe = typer.Typer(cls=PitlaneGroup)

    @probe.command()
    def boom() -> None:
        raise exc

    @probe.command()
    def other() -> None:
        pass

    return probe


def test_user_errors_become_one_line_and_exit_code() -> None:
    for exc, code in [(UserError("bad yaml"), 1), (NotFoundError("no such bag"), 3), (ConflictError("exists"), 5)]:
        result = runner.invoke(_app_raising(exc), ["boom"])
        assert result.exit_code == code
        assert result.stderr.strip() == f"error: {exc}"
        assert "Traceback" not in result.output


def test_bugs_are_not_swallowed() -> None:
    result = runner.invoke(_app_raising(RuntimeError("bug")), ["boom"])
    assert isinstance(result.exception, RuntimeError)
