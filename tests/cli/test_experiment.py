"""`pitlane init/compose/run/runs`: bad input gives one line and its exit code, never a traceback."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.experiment import conftest as experiment_fixtures
from tests.experiment.conftest import RAW, set_yaml_value
from toolkit.cli.main import app

runner = CliRunner()
# The rendered-repo fixtures live with the experiment tests; bound here so pytest finds them for this module too.
_session_home = experiment_fixtures._session_home
rendered_repo = experiment_fixtures.rendered_repo
exp_repo = experiment_fixtures.exp_repo


def _fails(args: list[str], code: int = 1) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_help_lists_experiment_commands() -> None:
    out = runner.invoke(app, ["--help"]).stdout
    for command in ("init", "compose", "run", "runs"):
        assert re.search(rf"│ {command}\s", out), command


def test_init_renders_a_repo_that_passes_its_checks(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path / "exp"), "--data", str(RAW), "--seed", "5"])
    assert result.exit_code == 0, result.output
    repo = tmp_path / "exp"
    for path in (
        "conf/experiment.yaml",
        "conf/data/default.yaml",
        "conf/model/small_cnn.yaml",
        "conf/trainer/default.yaml",
        "conf/resources/default.yaml",
        "dvc.yaml",
        "params.yaml",
        "src/build.py",
        "src/process.py",
        "src/train.py",
        ".github/workflows/experiment.yml",
        ".gitignore",
        "README.md",
        ".dvc/config",
    ):
        assert (repo / path).is_file(), path
    status = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True).stdout
    assert status == ""  # everything is in the first commit
    assert "spot_cameras_raw:" in (repo / "params.yaml").read_text() and "seed: 5" in (repo / "params.yaml").read_text()
    assert runner.invoke(app, ["compose", "--check", "-C", str(repo)]).exit_code == 0


def test_init_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    assert _fails(["init", str(tmp_path)], code=5) == f"error: {tmp_path}: exists and is not empty"
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_init_rejects_missing_data(tmp_path: Path) -> None:
    line = _fails(["init", str(tmp_path / "exp"), "--data", "nope/missing.bag"])
    assert line == "error: --data nope/missing.bag: nope/missing.bag does not exist"
    assert not (tmp_path / "exp").exists()


def test_run_outside_an_experiment_repo(tmp_path: Path) -> None:
    assert _fails(["run", "-C", str(tmp_path)]).endswith(
        "not an experiment repo (needs dvc.yaml and conf/; see `pitlane init`)"
    )


@pytest.mark.parametrize(
    ("override", "pattern"),
    [
        (
            "resources.train.gpus=64",
            r"stage 'train' requests 64 GPU\(s\) but this machine has .*; "
            r"pass --allow-cpu to run it on CPU, or set -S resources.train.gpus=0",
        ),
        (
            "resources.process.cpu=4096",
            r"stage 'process' requests 4096 CPUs but this machine has \d+; lower it with -S resources.process.cpu=\d+",
        ),
        (
            "resources.train.memory=900TB",
            r"stage 'train' requests 900TB memory but this machine has [\d.]+GB; "
            r"lower it with -S resources.train.memory=\.\.\.",
        ),
    ],
)
def test_run_checks_resources_before_running(exp_repo: Path, override: str, pattern: str) -> None:
    line = _fails(["run", "-C", str(exp_repo), "-S", override])
    assert re.fullmatch(f"error: {pattern}", line), line
    assert not (exp_repo / "dvc.lock").exists()  # nothing ran


def test_run_names_a_missing_dataset_path(exp_repo: Path) -> None:
    set_yaml_value(exp_repo / "conf" / "data" / "default.yaml", "path", '"/nonexistent/cams.bag"')
    assert _fails(["run", "-C", str(exp_repo)]) == "error: datasets.raw.path: /nonexistent/cams.bag does not exist"


def test_run_with_a_typo_in_an_override(exp_repo: Path) -> None:
    line = _fails(["run", "-C", str(exp_repo), "-S", "trainer.max_step=3"])
    assert line.startswith("error: conf/experiment.yaml: Could not override 'trainer.max_step'.")


def test_runs_of_a_fresh_repo_and_unknown_run(exp_repo: Path) -> None:
    result = runner.invoke(app, ["runs", "--json", "-C", str(exp_repo)])
    assert result.exit_code == 0 and result.stdout.strip() == "[]"
    assert _fails(["runs", "show", "abc123", "-C", str(exp_repo)], code=3) == (
        "error: run abc123: no such run id, and no run.json at git revision abc123"
    )
