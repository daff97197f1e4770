"""copy_range: exact bytes at the writer's position, serial or cut into pieces copied by threads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from toolkit.bags import bytecopy


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "src.bin"
    path.write_bytes(os.urandom(9 * bytecopy.COPY_BLOCK + 12345))
    return path


@pytest.mark.parametrize("parallel_min", [1 << 62, 2 * bytecopy.COPY_BLOCK], ids=["serial", "threads"])
def test_copies_the_range_after_what_is_written(
    tmp_path: Path, source: Path, parallel_min: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bytecopy, "PARALLEL_MIN", parallel_min)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2})  # threads even on a 1-core runner
    data = source.read_bytes()
    offset, length = 777, len(data) - 777 - 99
    out = tmp_path / "out.bin"
    with source.open("rb", buffering=0) as src, out.open("wb") as dst:
        dst.write(b"head")
        bytecopy.copy_range(src.fileno(), dst, offset, length)
        assert dst.tell() == 4 + length
        dst.write(b"tail")
    assert out.read_bytes() == b"head" + data[offset : offset + length] + b"tail"


@pytest.mark.parametrize("parallel_min", [1 << 62, 2 * bytecopy.COPY_BLOCK], ids=["serial", "threads"])
def test_short_source_is_an_error(
    tmp_path: Path, source: Path, parallel_min: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bytecopy, "PARALLEL_MIN", parallel_min)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1})
    size = source.stat().st_size
    with (
        source.open("rb", buffering=0) as src,
        (tmp_path / "out.bin").open("wb") as dst,
        pytest.raises(OSError, match="source ended 100 bytes early"),
    ):
        bytecopy.copy_range(src.fileno(), dst, 100, size)
