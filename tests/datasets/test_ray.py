"""Frame extraction as Ray tasks (PITLANE_RAY_ADDRESS) on a real local Ray instance."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.datasets.conftest import COMPRESSED, LIDAR, git_init
from toolkit.datasets.create import create_dataset
from toolkit.datasets.extract import BagJob, extract_bag, ray_task_address
from toolkit.errors import BagError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_local() -> Iterator[None]:
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def test_dashboard_urls_are_not_task_addresses() -> None:
    assert ray_task_address("http://head:8265") is None and ray_task_address(None) is None
    assert ray_task_address("ray://head:10001") == "ray://head:10001"


def test_ray_tasks_extract_the_same_frames(ray_local: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    monkeypatch.setenv("PITLANE_RAY_ADDRESS", "local")
    repo = git_init(tmp_path / "work")
    done: list[str] = []
    manifest, info, _ = create_dataset("both", [COMPRESSED, LIDAR], repo=repo, on_bag_done=lambda r: done.append(r.bag))
    assert info.tag == "both@v1" and sorted(done) == sorted([str(COMPRESSED), str(LIDAR)])
    assert ray.is_initialized()  # it joined the running instance instead of starting its own
    local = extract_bag(BagJob(LIDAR, tmp_path / "local", (), 0, "npy"))
    on_ray = [f for f in manifest.frames if f.topic == "/luminar_pointcloud"]
    assert [(f.id, f.timestamp_ns, f.extra) for f in on_ray] == [(f.id, f.timestamp_ns, f.extra) for f in local.frames]

    junk = tmp_path / "junk.bag"
    junk.write_bytes(b"#ROSBAG V2.0\n" + b"\x00" * 64)
    with pytest.raises(BagError) as err:
        create_dataset("bad", [COMPRESSED, junk], repo=repo)
    assert "\n" not in str(err.value) and "junk.bag" in str(err.value)
    assert not (repo / "datasets" / "bad").exists()
