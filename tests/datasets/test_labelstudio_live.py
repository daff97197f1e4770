"""Live Label Studio (its own virtualenv, real server): push tasks with predictions, annotate, pull back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tests.datasets.conftest import COMPRESSED, git_init
from tests.services.labelstudio import LabelStudioServer
from toolkit.cli.main import app
from toolkit.datasets import manifest as mf
from toolkit.datasets import versions as vs
from toolkit.datasets.create import create_dataset
from toolkit.datasets.labelstudio_live import push, with_client
from toolkit.errors import AuthenticationError, UserError

runner = CliRunner()
pytestmark = pytest.mark.slow


def _with_predictions(repo: Path) -> mf.Manifest:
    manifest, _, _ = create_dataset("cams", [COMPRESSED], repo=repo, classes=["car", "person"])
    edited = manifest.model_copy(deep=True)
    for f in edited.image_frames():
        f.predictions = [
            mf.Label(label="car", bbox=mf.BBox(x=10, y=20, w=100, h=50), score=0.9, source="model:perception/det@v1")
        ]
    vs.commit_version(repo, repo / "datasets" / "cams", edited, "edit", frames_changed=False)
    return edited


def test_push_annotate_pull(labelstudio: LabelStudioServer, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = git_init(labelstudio.document_root / "live-repo")
    manifest = _with_predictions(repo)
    monkeypatch.chdir(repo)
    r = runner.invoke(
        app,
        [
            "annotate",
            "push",
            "cams",
            "--tool",
            "labelstudio",
            "--url",
            labelstudio.url,
            "--token",
            labelstudio.token,
            "--document-root",
            str(labelstudio.document_root),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    pushed = json.loads(r.stdout)
    assert pushed["tasks"] == 4 and pushed["version"] == 2

    def tasks_of(client: Any) -> list[Any]:
        return list(client.tasks.list(project=pushed["project_id"], fields="all"))

    tasks = with_client(labelstudio.url, labelstudio.token, tasks_of)
    assert len(tasks) == 4 and all(t.total_predictions == 1 for t in tasks)
    # Label Studio serves the frame bytes from the dataset directory
    task = next(t for t in tasks if "hand_color" in t.data["pitlane_path"])
    frame = manifest.frame_index()[task.data["pitlane_frame"]]
    img = httpx.get(labelstudio.url + task.data["image"], headers={"Authorization": f"Token {labelstudio.token}"})
    assert img.status_code == 200 and img.content == (repo / "datasets" / "cams" / frame.path).read_bytes()

    # an annotator accepts the prediction's box, moves it, and adds a tag
    def annotate(client: Any) -> Any:
        return client.annotations.create(
            id=task.id,
            result=[
                {
                    "from_name": "label",
                    "to_name": "image",
                    "type": "rectanglelabels",
                    "original_width": frame.width,
                    "original_height": frame.height,
                    "image_rotation": 0,
                    "value": {
                        "x": 25.0,
                        "y": 10.0,
                        "width": 50.0,
                        "height": 25.0,
                        "rotation": 0,
                        "rectanglelabels": ["person"],
                    },
                },
                {"from_name": "tags", "to_name": "image", "type": "choices", "value": {"choices": ["car"]}},
            ],
            was_cancelled=False,
            ground_truth=False,
        )

    with_client(labelstudio.url, labelstudio.token, annotate)
    r = runner.invoke(
        app, ["annotate", "pull", "cams", "--url", labelstudio.url, "--token", labelstudio.token, "--json"]
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"tag": "cams@v3", "digest": json.loads(r.stdout)["digest"], "frames_changed": 1}
    _, pulled, _ = vs.resolve_ref("cams@v3", repo)
    got = pulled.frame_index()[frame.id]
    assert [(lab.label, lab.bbox.rounded(3) if lab.bbox else None) for lab in got.labels] == [
        ("person", (0.25 * frame.width, 0.10 * frame.height, 0.5 * frame.width, 0.25 * frame.height)),
        ("car", None),
    ]
    assert got.labels[0].source.startswith("labelstudio:")  # who annotated
    assert [(p.label, p.score, p.source) for p in got.predictions] == [("car", 0.9, "model:perception/det@v1")]
    untouched = [f for f in pulled.image_frames() if f.id != frame.id]
    assert all(not f.labels and len(f.predictions) == 1 for f in untouched)
    assert pulled.lineage[-1].detail["project"] == pushed["project_id"]


def test_live_errors_are_one_line(labelstudio: LabelStudioServer, tmp_path: Path) -> None:
    repo = git_init(labelstudio.document_root / "err-repo")
    create_dataset("cams", [COMPRESSED], repo=repo, classes=["car"])
    with pytest.raises(AuthenticationError, match="refused the token"):
        push("cams", labelstudio.url, "not-a-token", repo=repo, document_root=labelstudio.document_root)
    with pytest.raises(UserError, match="cannot reach Label Studio"):
        push("cams", "http://127.0.0.1:9", labelstudio.token, repo=repo, document_root=labelstudio.document_root)
    with pytest.raises(UserError, match="not under Label Studio's document root"):
        push("cams", labelstudio.url, labelstudio.token, repo=repo, document_root=tmp_path / "elsewhere")
