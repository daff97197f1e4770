from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.experiment.conftest import run_cli, set_yaml_value
from toolkit.cli.main import app
from toolkit.errors import SpecError
from toolkit.experiment.compose import compose, compose_cached, compose_spec

runner = CliRunner()


def _compose_error(repo: Path, *args: str) -> str:
    result = runner.invoke(app, ["compose", "--repo", str(repo), *args])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_generated_repo_passes_its_own_check(exp_repo: Path) -> None:
    result = runner.invoke(app, ["compose", "--check", "--repo", str(exp_repo)])
    assert result.exit_code == 0, result.output
    assert subprocess.run(["git", "status", "--porcelain"], cwd=exp_repo, capture_output=True, text=True).stdout == ""


def test_compose_is_byte_deterministic(exp_repo: Path) -> None:
    params = exp_repo / "params.yaml"
    committed = params.read_bytes()
    params.unlink()
    compose(exp_repo)
    first = params.read_bytes()
    # Another process, and conf keys in another order: same bytes.
    trainer = exp_repo / "conf" / "trainer" / "default.yaml"
    trainer.write_text("\n".join(reversed(trainer.read_text().splitlines())) + "\n")
    params.unlink()
    run_cli(exp_repo, "compose")
    assert params.read_bytes() == first == committed


def test_overrides_use_hydra_grammar(exp_repo: Path) -> None:
    spec = compose_spec(exp_repo, ["trainer.lr=0.5", "seed=3", "resources=gpu"]).spec
    assert (spec.trainer.lr, spec.seed, spec.resources.train.gpus) == (0.5, 3, 1)


def test_check_fails_when_conf_changed(exp_repo: Path) -> None:
    set_yaml_value(exp_repo / "conf" / "trainer" / "default.yaml", "lr", "0.1")
    assert (
        _compose_error(exp_repo, "--check")
        == "error: params.yaml: out of date with conf/; run `pitlane compose` and commit it"
    )
    compose(exp_repo)
    assert "lr: 0.1\n" in (exp_repo / "params.yaml").read_text()


def test_unknown_key_names_file_key_and_expected(exp_repo: Path) -> None:
    conf = exp_repo / "conf" / "trainer" / "default.yaml"
    conf.write_text(conf.read_text().replace("max_steps:", "max_step:"))
    line = _compose_error(exp_repo)
    assert line.startswith(
        "error: conf/trainer/default.yaml: trainer.max_step: unknown key (expected one of: max_steps, "
    )


def test_missing_rev_names_the_data_file(exp_repo: Path) -> None:
    data = exp_repo / "conf" / "data" / "default.yaml"
    data.write_text(data.read_text() + "  remote:\n    repo: https://example.com/data.git\n    path: bags/a.bag\n")
    assert _compose_error(exp_repo) == (
        "error: conf/data/default.yaml: datasets.remote.rev: required when repo is set (pin a tag or commit)"
    )


def test_malformed_yaml_names_file_and_line(exp_repo: Path) -> None:
    (exp_repo / "conf" / "model" / "small_cnn.yaml").write_text("name: small_cnn\nchannels: [8, 16\n")
    line = _compose_error(exp_repo)
    assert line.startswith("error: conf/model/small_cnn.yaml: line 3, column 1: invalid YAML: ")


def test_unknown_override_is_one_line(exp_repo: Path) -> None:
    line = _compose_error(exp_repo, "-S", "trainer.max_step=3")
    assert line.startswith("error: conf/experiment.yaml: Could not override 'trainer.max_step'.")
    assert _compose_error(exp_repo, "-S", "model=huge").startswith("error: conf/experiment.yaml: ")


def test_not_an_experiment_repo(tmp_path: Path) -> None:
    assert _compose_error(tmp_path) == (
        "error: conf/experiment.yaml: not found (is this an experiment repo? see `pitlane init`)"
    )


def test_cached_compose_skips_hydra_only_when_inputs_unchanged(exp_repo: Path) -> None:
    compose(exp_repo)
    before = compose_cached(exp_repo)
    set_yaml_value(exp_repo / "conf" / "trainer" / "default.yaml", "lr", "0.25")
    assert compose_cached(exp_repo).trainer.lr == 0.25 != before.trainer.lr
    # A hand edit of params.yaml is not trusted: it is recomposed from conf/.
    params = exp_repo / "params.yaml"
    params.write_text(params.read_text().replace("lr: 0.25", "lr: 9.0"))
    assert compose_cached(exp_repo).trainer.lr == 0.25


def test_compose_api_raises_spec_error(exp_repo: Path) -> None:
    with pytest.raises(SpecError, match=r"^conf/experiment.yaml: Could not override"):
        compose(exp_repo, ["nonexistent.key=1"])
