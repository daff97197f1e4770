from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pygit2
import pytest
from typer.testing import CliRunner

from tests.release.experiment import VENV_BIN, Experiment, copy_experiment, md5
from toolkit.cli.main import app
from toolkit.errors import ConflictError, ReleaseError
from toolkit.release.dvcmeta import parse_dvc_lock
from toolkit.release.manifest import PackageManifest
from toolkit.release.release import release

runner = CliRunner()


@pytest.fixture
def exp(tmp_path: Path) -> Experiment:
    return copy_experiment(tmp_path)


def _remote_tag_message(exp: Experiment, tag: str) -> str:
    repo = pygit2.Repository(str(exp.remote))
    obj = repo.get(repo.references[f"refs/tags/{tag}"].target)
    assert isinstance(obj, pygit2.Tag)
    return obj.message


def test_release_pushes_tag_with_manifest_and_data(exp: Experiment) -> None:
    result = runner.invoke(app, ["release", "detector", "1.0.0", "--repo", str(exp.path), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["tag"] == "detector@v1.0.0"
    manifest = PackageManifest.from_message(_remote_tag_message(exp, "detector@v1.0.0"))
    lock = parse_dvc_lock((exp.path / "dvc.lock").read_text())
    assert [f.path for f in manifest.files] == ["models"]
    assert manifest.files[0].md5 == lock.outs["models"].md5 and manifest.files[0].md5.endswith(".dir")
    assert manifest.commit == exp.git("rev-parse", "HEAD").strip()
    run_json = exp.path / "run.json"
    assert manifest.run is not None and manifest.run.sha256 == hashlib.sha256(run_json.read_bytes()).hexdigest()
    assert manifest.run.summary["metrics"] == {"loss": 0.5}
    assert {(d.path, d.md5) for d in manifest.deps} >= {("data/slices/slice_a.bag", exp.slice_md5)}
    # The data really is in the DVC remote: a fresh clone can pull it.
    clone = exp.path.parent / "clone"
    subprocess.run(["git", "clone", "-q", str(exp.remote), str(clone)], check=True)
    subprocess.run([str(VENV_BIN / "dvc"), "pull", "-q", "models"], cwd=clone, check=True)
    assert md5(clone / "models" / "model.pt") == md5(exp.path / "models" / "model.pt")


def test_published_versions_are_immutable(exp: Experiment) -> None:
    release("detector", "1.0.0", repo=exp.path)
    exp.git("tag", "-d", "detector@v1.0.0")  # gone locally, still on the remote
    with pytest.raises(ConflictError, match="immutable"):
        release("detector", "v1.0.0", repo=exp.path)
    result = runner.invoke(app, ["release", "detector", "1.0.0", "--repo", str(exp.path)])
    assert result.exit_code == 5
    assert result.stderr.startswith("error: detector@v1.0.0 already exists")


def test_channel_creates_gto_stage_tag_with_rising_counter(exp: Experiment) -> None:
    first = release("detector", "1.0.0", repo=exp.path, channel="staging")
    assert first.stage_tag == "detector#staging#1"
    exp.retrain(seed=1)
    second = release("detector", "1.1.0", repo=exp.path, channel="staging")
    assert second.stage_tag == "detector#staging#2"
    result = runner.invoke(
        app, ["release", "detector", "1.1.0", "--channel", "prod", "--assign-only", "--repo", str(exp.path)]
    )
    assert result.exit_code == 0, result.output
    tags = subprocess.run(["git", "tag"], cwd=exp.remote, capture_output=True, text=True, check=True).stdout.split()
    assert "detector#prod#3" in tags
    # The real gto reads what `pitlane release` wrote: latest version and both channels.
    gto = subprocess.run(
        [str(VENV_BIN / "gto"), "show", "--json"],
        cwd=exp.path,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "GTO_EMOJIS": "false"},
    )
    state = json.loads(gto.stdout)["detector"]
    assert state["version"] == "v1.1.0"
    assert state["stage"] == {"staging": "v1.1.0", "prod": "v1.1.0"}


def test_bad_inputs_are_one_line_errors_and_create_nothing(exp: Experiment) -> None:
    (exp.path / "notes.txt").write_text("x")
    exp.git("add", "notes.txt")
    exp.git("commit", "-qm", "notes")
    cases = [
        (["--files", "missing.bin"], "no such file"),
        (["--files", "notes.txt"], "not DVC-tracked"),
        (["--files", "models/model.pt"], "inside the DVC-tracked directory models"),
    ]
    for extra, message in cases:
        result = runner.invoke(app, ["release", "detector", "1.0.0", "--repo", str(exp.path), *extra])
        assert result.exit_code == 1, result.output
        assert message in result.stderr and "Traceback" not in result.output
    (exp.path / "train.py").write_text("changed")
    result = runner.invoke(app, ["release", "detector", "1.0.0", "--repo", str(exp.path)])
    assert result.exit_code == 1 and "uncommitted changes" in result.stderr
    exp.git("checkout", "train.py")
    (exp.path / "models" / "model.pt").write_bytes(b"tampered")
    with pytest.raises(ReleaseError, match=r"differs from what dvc\.lock records"):
        release("detector", "1.0.0", repo=exp.path)
    result = runner.invoke(app, ["release", "bad name", "1.0.0", "--repo", str(exp.path)])
    assert result.exit_code == 1 and "invalid package name" in result.stderr
    assert exp.git("tag").strip() == ""


def test_no_push_keeps_everything_local(exp: Experiment) -> None:
    result = release("detector", "nightly-20251125", repo=exp.path, push=False)
    assert result.tag == "detector@nightly-20251125"
    assert exp.git("tag").split() == ["detector@nightly-20251125"]
    remote_tags = subprocess.run(["git", "tag"], cwd=exp.remote, capture_output=True, text=True, check=True)
    assert remote_tags.stdout.strip() == ""
