"""The experiment image, real podman: build makes it, process and train run in it, DVC rebuilds it when it must.

The session's trained repo (conftest ``trained_repo``) ran its stages in the image; these tests need podman and
fail, naming what to install, where it is missing.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.experiment.conftest import run_cli
from toolkit.errors import UserError
from toolkit.experiment import container, image


def _env(repo: Path) -> dict:
    return json.loads((repo / "build" / "env.json").read_text())


def _inspect(engine: container.Engine, ref: str, fmt: str) -> str:
    done = subprocess.run(engine.command("image", "inspect", "--format", fmt, ref), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_build_makes_the_image_and_run_json_records_its_digest(podman: container.Engine, trained_repo: Path) -> None:
    image = _env(trained_repo)["image"]
    assert image["status"] == "built" and image["engine"] == "podman"
    assert image["id"] == "sha256:" + _inspect(podman, image["id"], "{{.Id}}")
    assert image["digest"] == _inspect(podman, image["id"], "{{.Digest}}")
    assert image["digest"].startswith("sha256:")
    record = json.loads((trained_repo / "run.json").read_text())
    assert record["environment"]["image"] == image
    # The fingerprint describes the image's environment: its Python ran `python -m toolkit.experiment.fingerprint`.
    env = _env(trained_repo)
    assert env["executable"] == "/opt/venv/bin/python"
    assert record["environment"]["fingerprint"] == env["fingerprint"]


def test_process_and_train_ran_inside_the_image(podman: container.Engine, trained_repo: Path) -> None:
    image_id = _env(trained_repo)["image"]["id"]
    record = json.loads((trained_repo / "run.json").read_text())
    # The train stage's own Python: the image's venv on Debian bookworm, not this interpreter.
    assert record["runtime"] == {
        "where": "container",
        "image": image_id,
        "python": "/opt/venv/bin/python",
        "os": "Debian GNU/Linux 12 (bookworm)",
    }
    assert record["runtime"]["python"] != sys.executable
    log = (trained_repo.parent / "first-run.log").read_text()
    assert f"process@raw: in container {image_id[:19]} (podman)" in log
    assert f"train: in container {image_id[:19]} (podman)" in log
    assert "running on the host" not in log


def test_lr_change_reruns_train_in_the_same_image(podman: container.Engine, trained_copy: Path) -> None:
    before = _env(trained_copy)["image"]["id"]
    done = run_cli(trained_copy, "run", "-S", "trainer.lr=0.02")
    assert "Running stage 'train'" in done.stdout and "Running stage 'build'" not in done.stdout
    assert f"train: in container {before[:19]}" in done.stderr
    assert json.loads((trained_copy / "run.json").read_text())["runtime"]["image"] == before


def test_src_change_rebuilds_the_image_from_its_cached_layers(podman: container.Engine, trained_copy: Path) -> None:
    before = _env(trained_copy)["image"]
    predictor = trained_copy / "src" / "predictor.py"
    predictor.write_text(predictor.read_text() + "\n# a source change\n")
    done = run_cli(trained_copy, "run")
    assert "Running stage 'build'" in done.stdout and "Running stage 'train'" in done.stdout
    after = _env(trained_copy)["image"]
    assert after["id"] != before["id"] and after["lock_key"] == before["lock_key"]
    # Only the layers after the locked install differ: the slow one came from the layer cache.
    layers_before = json.loads(_inspect(podman, before["id"], "{{json .RootFS.Layers}}"))
    layers_after = json.loads(_inspect(podman, after["id"], "{{json .RootFS.Layers}}"))
    assert layers_before[:-1] == layers_after[:-1] and layers_before[-1] != layers_after[-1]
    assert json.loads((trained_copy / "run.json").read_text())["environment"]["image"]["id"] == after["id"]


def test_stage_runtime_host_runs_on_the_host(podman: container.Engine, trained_copy: Path) -> None:
    done = run_cli(trained_copy, "run", "-S", "resources.train.runtime=host", "-S", "trainer.lr=0.004")
    assert "Running stage 'train'" in done.stdout and "train: in container" not in done.stderr
    assert json.loads((trained_copy / "run.json").read_text())["runtime"]["where"] == "host"


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    """Debian's docker-registry (the CNCF distribution server) on a free local port, storage in tmp_path."""
    server = shutil.which("docker-registry") or "/usr/bin/docker-registry"
    if not Path(server).is_file():
        pytest.fail("the push test needs Debian's docker-registry: run scripts/system-deps.sh", pytrace=False)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = tmp_path / "registry.yml"
    config.write_text(
        f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {tmp_path / 'store'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    proc = subprocess.Popen([server, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                assert proc.poll() is None, "docker-registry exited"
                assert time.monotonic() < deadline, "docker-registry did not answer within 30 s"
                time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(tmp_path / "store", ignore_errors=True)  # the pushed image: ~1 GB compressed


def test_build_pushes_to_the_registry_and_records_the_digest(
    podman: container.Engine, trained_copy: Path, registry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PITLANE_IMAGE_REGISTRY", registry)
    monkeypatch.setenv("PITLANE_IMAGE_REGISTRY_INSECURE", "1")
    monkeypatch.setenv("PITLANE_IMAGE_COMPRESSION", "zstd")  # gzip of the 2 GB image takes minutes on 2 cores
    predictor = trained_copy / "src" / "predictor.py"
    predictor.write_text(predictor.read_text() + "\n# pushed build\n")
    run_cli(trained_copy, "run")
    image = _env(trained_copy)["image"]
    name, digest = image["pushed"].split("@")
    assert name == f"{registry}/pitlane-exp/cams" and digest.startswith("sha256:")
    # The registry serves that manifest by digest, and pulling it gives the image the stages ran in.
    request = urllib.request.Request(
        f"http://{registry}/v2/pitlane-exp/cams/manifests/{digest}",
        headers={
            "Accept": "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
        },
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200
    pulled = subprocess.run(
        podman.command("pull", "--quiet", "--tls-verify=false", image["pushed"]), capture_output=True, text=True
    )
    assert pulled.returncode == 0, pulled.stderr
    assert "sha256:" + pulled.stdout.strip() == image["id"]
    assert json.loads((trained_copy / "run.json").read_text())["environment"]["image"]["pushed"] == image["pushed"]


def test_missing_base_image_names_the_builder(podman: container.Engine, tmp_path: Path) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text("")
    with pytest.raises(UserError, match=r"base image localhost/pitlane-no-such-base:x not found: .*base-image"):
        image.build(podman, tmp_path, "x", "localhost/pitlane-no-such-base:x", tmp_path / "Dockerfile", lock, lock)
