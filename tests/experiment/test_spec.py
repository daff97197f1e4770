from __future__ import annotations

import pytest
from pydantic import ValidationError

from toolkit.experiment.errors_fmt import one_line
from toolkit.experiment.spec import ExperimentSpec, parse_memory

BASE = {
    "name": "exp",
    "seed": 1,
    "datasets": {"cams": {"path": "/data/cams.bag"}},
    "trainer": {"max_steps": 10},
}


def _error(config: dict) -> str:
    with pytest.raises(ValidationError) as info:
        ExperimentSpec.model_validate(config)
    return one_line(info.value, ExperimentSpec, lambda loc: "conf/x.yaml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("4GB", 4_000_000_000), ("512MiB", 512 * 1024**2), ("2G", 2_000_000_000), ("100", 100), ("1.5 GB", 1_500_000_000)],
)
def test_parse_memory(text: str, expected: int) -> None:
    assert parse_memory(text) == expected


def test_parse_memory_rejects_words() -> None:
    with pytest.raises(ValueError, match="expected a size like"):
        parse_memory("lots")


def test_minimal_spec_fills_defaults_and_lists_tasks() -> None:
    spec = ExperimentSpec.model_validate({**BASE, "datasets": {"a": {"path": "a.bag"}, "b": {"path": "b.bag"}}})
    assert spec.trainer.checkpoint_every_n_steps == 10
    assert spec.resources.train.gpus == 0
    assert spec.stage_tasks() == {"build": ["build"], "process": ["process@a", "process@b"], "train": ["train"]}


def test_unknown_key_names_path_and_allowed_keys() -> None:
    message = _error({**BASE, "trainer": {"max_step": 10}})
    assert message.startswith("conf/x.yaml: trainer.max_step: unknown key (expected one of: max_steps, batch_size, lr,")
    assert "(and 1 more)" in message  # max_steps is also missing


def test_unknown_key_inside_dataset_mapping() -> None:
    message = _error({**BASE, "datasets": {"cams": {"path": "x", "revision": "v1"}}})
    assert message == "conf/x.yaml: datasets.cams.revision: unknown key (expected one of: path, repo, rev)"


def test_repo_without_rev_names_rev() -> None:
    message = _error({**BASE, "datasets": {"cams": {"path": "bags/a.bag", "repo": "https://example.com/data.git"}}})
    assert message == "conf/x.yaml: datasets.cams.rev: required when repo is set (pin a tag or commit)"


def test_missing_dataset_path() -> None:
    assert (
        _error({**BASE, "datasets": {"cams": {"rev": "v1"}}})
        == "conf/x.yaml: datasets.cams.path: required key is missing"
    )


def test_wrong_type_says_what_was_expected() -> None:
    message = _error({**BASE, "trainer": {"max_steps": "many"}})
    assert (
        message
        == "conf/x.yaml: trainer.max_steps: expected a valid integer, unable to parse string as an integer (got 'many')"
    )


def test_bad_memory_and_dataset_name() -> None:
    assert "expected a size like '4GB'" in _error({**BASE, "resources": {"train": {"memory": "huge"}}})
    assert "use letters, digits" in _error({**BASE, "datasets": {"a b": {"path": "x"}}})


def test_no_datasets_is_an_error() -> None:
    assert _error({**BASE, "datasets": {}}).startswith("conf/x.yaml: datasets: ")
