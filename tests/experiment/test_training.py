from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.fabric.utilities.seed import _collect_rng_states, _set_rng_states

from toolkit.experiment.training import (
    AtomicCheckpointIO,
    EpochSeededSampler,
    _packed_rng,
    _tensor_rng,
    newest_valid_checkpoint,
)


def test_sampler_order_depends_on_seed_and_epoch_only() -> None:
    a, b = EpochSeededSampler(50, seed=3), EpochSeededSampler(50, seed=3)
    assert list(a) == list(b) and sorted(a) == list(range(50))
    a.set_epoch(1)
    assert list(a) != list(b)
    assert list(EpochSeededSampler(50, seed=4)) != list(b)


def test_sampler_resumes_mid_epoch_once() -> None:
    sampler = EpochSeededSampler(20, seed=1)
    full = sampler.order(2)
    sampler.resume_at(epoch=2, samples_done=8)
    sampler.set_epoch(2)
    assert list(sampler) == full[8:]
    assert list(sampler) == full  # the offset applies to the resumed epoch only
    sampler.resume_at(epoch=2, samples_done=8)
    sampler.set_epoch(3)
    assert list(sampler) == sampler.order(3)


def test_rng_states_survive_a_weights_only_checkpoint(tmp_path: Path) -> None:
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    packed = _packed_rng(_collect_rng_states())
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.save({"rng": packed}, tmp_path / "c.ckpt")
    loaded = torch.load(tmp_path / "c.ckpt", weights_only=True)["rng"]
    _set_rng_states(_tensor_rng(loaded))
    got = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(got[0], expected[0]) and np.array_equal(got[1], expected[1]) and got[2] == expected[2]


def test_rng_states_from_checkpoints_that_stored_plain_lists_still_load() -> None:
    torch.manual_seed(5)
    np.random.seed(5)
    random.seed(5)
    states = _collect_rng_states()
    name, keys, pos, has_gauss, cached = states["numpy"]
    version, internal, gauss = states["python"]
    old = {
        "torch": states["torch"].tolist(),
        "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
        "python": [version, list(internal), gauss],
    }
    expected = (torch.rand(3), np.random.rand(3), random.random())
    _set_rng_states(_tensor_rng(old))
    assert torch.equal(torch.rand(3), expected[0]) and np.array_equal(np.random.rand(3), expected[1])
    assert random.random() == expected[2]


def _ckpt(path: Path, step: int) -> None:
    torch.save({"state_dict": {"w": torch.full((2,), float(step))}, "global_step": step}, path)


def test_newest_valid_checkpoint_skips_corrupt_and_lagging_files(tmp_path: Path) -> None:
    assert newest_valid_checkpoint(tmp_path) is None
    _ckpt(tmp_path / "last.ckpt", 4)  # lags behind the numbered one, as after a kill
    _ckpt(tmp_path / "step-000008.ckpt", 8)
    _ckpt(tmp_path / "step-000012.ckpt", 12)
    data = (tmp_path / "step-000012.ckpt").read_bytes()
    (tmp_path / "step-000012.ckpt").write_bytes(data[: len(data) // 2])  # torn write
    (tmp_path / "notes.ckpt").write_text("not a checkpoint")
    assert newest_valid_checkpoint(tmp_path) == tmp_path / "step-000008.ckpt"


def test_atomic_save_never_leaves_a_torn_file(tmp_path: Path) -> None:
    target = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"state_dict": {}, "global_step": 1}, target)
    before = target.read_bytes()
    with pytest.raises(Exception):  # noqa: B017 - whatever pickling raises, the old file must stay intact
        io.save_checkpoint({"state_dict": {}, "global_step": 2, "bad": lambda: None}, target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]
