"""Where a stage runs: in the build stage's image, or on the host with a one-line reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from toolkit.experiment import container
from toolkit.experiment.stage import container_command, host_reason

PODMAN = container.Engine("podman", "/usr/bin/podman")
BUILT = {"status": "built", "id": "sha256:" + "a" * 64}


def _params(runtime: str = "container", gpus: int = 0) -> dict[str, Any]:
    return {
        "resources": {"train": {"runtime": runtime, "gpus": gpus}, "process": {"runtime": runtime}},
        "datasets": {"raw": {"path": "/data/raw.bag"}, "far": {"repo": "https://example.org/d.git", "path": "x"}},
    }


def test_container_when_an_engine_and_an_image_are_there() -> None:
    assert host_reason("train", _params(), PODMAN, BUILT) is None


def test_host_with_the_reason() -> None:
    assert host_reason("train", _params("host"), PODMAN, BUILT) == "resources.train.runtime: host"
    assert "install podman" in (host_reason("train", _params(), None, BUILT) or "")
    unavailable = {"status": "unavailable", "reason": "no container runtime"}
    assert host_reason("process", _params(), PODMAN, unavailable) == "no image: no container runtime"


def test_train_gets_no_network_the_repo_at_its_own_path_and_gpus_when_asked(tmp_path: Path) -> None:
    cmd = container_command(PODMAN, tmp_path, "train", [], BUILT["id"], _params(gpus=1))
    assert cmd[cmd.index("--network") + 1] == "none"
    assert f"{tmp_path}:{tmp_path}" in cmd and cmd[cmd.index("--workdir") + 1] == str(tmp_path)
    assert cmd[cmd.index("--device") + 1] == "nvidia.com/gpu=all"
    assert cmd[-3:] == [BUILT["id"], "python", "src/train.py"]
    assert cmd[cmd.index("--name") + 1] == container.container_name(tmp_path, "train")


def test_process_has_network_and_reads_local_datasets_read_only(tmp_path: Path) -> None:
    data = tmp_path / "bags" / "raw.bag"
    data.parent.mkdir()
    data.write_bytes(b"x")
    repo = tmp_path / "exp"
    repo.mkdir()
    params = _params()
    params["datasets"]["raw"]["path"] = str(data)
    cmd = container_command(PODMAN, repo, "process", ["raw"], BUILT["id"], params)
    assert "--network" not in cmd and "--device" not in cmd
    assert f"{data}:{data}:ro" in cmd
    assert cmd[-3:] == ["python", "src/process.py", "raw"]
