from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.experiment.conftest import set_yaml_value
from toolkit.experiment.compose import compose, compose_spec
from toolkit.experiment.plan import CACHE, RunPlan, cached, conf_key, run_plan


def test_plan_is_what_the_validated_spec_says(exp_repo: Path) -> None:
    spec = compose_spec(exp_repo).spec
    plan = RunPlan.of(spec)
    assert set(plan.datasets) == set(spec.datasets)
    for stage in ("build", "process", "train"):
        want = getattr(spec.resources, stage)
        got = plan.resources[stage]
        assert (got.cpu, got.memory_bytes, got.gpus, got.gpu_type) == (
            want.cpu,
            want.memory_bytes,
            want.gpus,
            want.gpu_type,
        )
    assert RunPlan.from_json(json.loads(json.dumps(plan.to_json()))) == plan


def test_cache_serves_the_plan_only_while_conf_and_params_are_unchanged(exp_repo: Path) -> None:
    compose(exp_repo)
    key = conf_key(exp_repo, [])
    assert cached(exp_repo, key) == RunPlan.of(compose_spec(exp_repo).spec)
    # overrides are part of the key
    assert cached(exp_repo, conf_key(exp_repo, ["resources.train.cpu=2"])) is None
    # a hand edit of params.yaml is not trusted
    params = exp_repo / "params.yaml"
    original = params.read_text()
    params.write_text(original + "\n")
    assert cached(exp_repo, key) is None
    params.write_text(original)
    # a changed conf/ file changes the key
    set_yaml_value(exp_repo / "conf" / "resources" / "default.yaml", "cpu", "2")
    assert cached(exp_repo, conf_key(exp_repo, [])) is None
    assert run_plan(exp_repo).resources["build"].cpu == 2
    # and the recomposed plan is cached again
    assert cached(exp_repo, conf_key(exp_repo, [])) is not None


def test_a_damaged_or_old_cache_is_recomposed(exp_repo: Path) -> None:
    compose(exp_repo)
    cache = exp_repo / CACHE
    saved = json.loads(cache.read_text())
    del saved["plan"]
    cache.write_text(json.dumps(saved))
    assert cached(exp_repo, conf_key(exp_repo, [])) is None
    cache.write_text("{not json")
    assert run_plan(exp_repo).resources["train"].gpus == 0


def test_a_cached_plan_loads_neither_hydra_nor_pydantic(exp_repo: Path) -> None:
    compose(exp_repo)
    probe = (
        "import sys\nfrom toolkit.experiment.plan import run_plan\n"
        f"run_plan({str(exp_repo)!r})\n"
        "print(sorted(m for m in ('hydra', 'pydantic', 'omegaconf') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
