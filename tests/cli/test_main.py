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


def test_command_map_names_exactly_what_each_module_registers() -> None:
    import importlib

    from toolkit.cli import COMMAND_MODULES, registered_modules

    seen: dict[str, str] = {}
    for module in registered_modules():
        probe = typer.Typer()
        module.register(probe)
        names = [info.name for info in probe.registered_commands] + [info.name for info in probe.registered_groups]
        for name in names:
            assert name is not None
            seen[name] = module.__name__.rsplit(".", 1)[1]
    assert seen == COMMAND_MODULES
    # and every command has its --help panel, once
    from toolkit.cli.main import PANELS

    paneled = [name for names in PANELS.values() for name in names]
    assert sorted(paneled) == sorted(COMMAND_MODULES)
    # each entry loads its module alone
    for command, module_name in COMMAND_MODULES.items():
        assert registered_modules(command) == [importlib.import_module(f"toolkit.cli.{module_name}")]


def test_a_command_starts_without_importing_the_other_groups() -> None:
    import subprocess
    import sys

    probe = (
        "import sys; sys.argv = ['pitlane', 'run', '--help']\n"
        "from toolkit.cli.main import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('toolkit.cli.')))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = done.stdout.strip().splitlines()[-1]
    assert "toolkit.cli.experiment" in loaded
    assert "toolkit.cli.data" not in loaded and "toolkit.cli.dataset" not in loaded
