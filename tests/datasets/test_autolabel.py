"""autolabel: a TorchScript model package, resolved through the (embedded) registry, as pre-annotations."""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from toolkit.cli.main import app
from toolkit.datasets import manifest as mf
from toolkit.datasets import versions as vs
from toolkit.datasets.autolabel import autolabel, rgb_image
from toolkit.errors import PredictorError

runner = CliRunner()

PREDICTOR = textwrap.dedent('''
    """Bright-region detector: a TorchScript 5x5 box filter, thresholded at 3/4 of the image's peak."""
    import json
    from pathlib import Path

    import numpy as np
    import torch


    class Bright:
        def __init__(self, model_dir, device):
            self.net = torch.jit.load(str(Path(model_dir) / "model.pt"), map_location=device)
            self.labels = json.loads((Path(model_dir) / "labels.json").read_text())
            self.device = device

        def predict(self, image):
            x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float().to(self.device)
            with torch.no_grad():
                heat = self.net(x)[0, 0].cpu().numpy()
            ys, xs = np.nonzero(heat >= 0.75 * heat.max())
            score = float(heat.max() / 255.0)
            out = [{"label": self.labels["tag"], "score": score, "bbox": None}]
            if len(xs):
                box = (float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1))
                out.append({"label": self.labels["box"], "score": score, "bbox": box})
            return out


    def load(model_dir, device):
        return Bright(model_dir, device)
''')


def make_package(path: Path) -> Path:
    path.mkdir(parents=True)
    net = torch.nn.Conv2d(3, 1, 5, padding=2, bias=False)
    with torch.no_grad():
        net.weight.fill_(1.0 / 75.0)  # mean over 5x5x3
    torch.jit.script(net).save(str(path / "model.pt"))
    (path / "labels.json").write_text(json.dumps({"box": "bright", "tag": "lit"}))
    (path / "predictor.py").write_text(PREDICTOR)
    return path


def test_autolabel_local_package_writes_predictions_and_lineage(spot: tuple[Path, mf.Manifest], tmp_path: Path) -> None:
    repo, before = spot
    pkg = make_package(tmp_path / "bright")
    manifest, info, count = autolabel("spot", model_dir=pkg, device="cpu", repo=repo)
    assert info.tag == "spot@v2"
    images = manifest.image_frames()
    assert count == sum(len(f.predictions) for f in images) and count >= len(images)
    frame = next(f for f in images if f.path.endswith(".jpg") and "hand_color" in f.path)
    # the box is where the image really is brightest (checked without the model)
    pixels = rgb_image(repo / "datasets" / "spot" / frame.path).astype(float).mean(axis=2)
    box = next(p for p in frame.predictions if p.bbox is not None).bbox
    assert box is not None
    peak_y, peak_x = np.unravel_index(np.argmax(pixels), pixels.shape)
    assert box.x - 3 <= peak_x <= box.x + box.w + 3 and box.y - 3 <= peak_y <= box.y + box.h + 3
    assert all(p.source == "model:bright@local" for f in images for p in f.predictions)
    assert not any(f.labels for f in manifest.frames) and [f.labels for f in before.frames] == [[]] * 8
    entry = manifest.lineage[-1]
    assert entry.action == "autolabel" and entry.detail["device"] == "cpu"
    assert entry.detail["files"]["model.pt"] == hashlib.md5((pkg / "model.pt").read_bytes()).hexdigest()
    assert set(manifest.classes) >= {"bright", "lit"}


def test_min_score_filters(spot: tuple[Path, mf.Manifest], tmp_path: Path) -> None:
    repo, _ = spot
    pkg = make_package(tmp_path / "bright")
    full, _, n_all = autolabel("spot", model_dir=pkg, device="cpu", repo=repo)
    scores = sorted(p.score or 0 for f in full.frames for p in f.predictions)
    cut = scores[len(scores) // 2]
    _, _, n_cut = autolabel("spot", model_dir=pkg, device="cpu", min_score=cut, repo=repo)
    assert n_cut == sum(1 for s in scores if s >= cut) and 0 < n_cut < n_all


def test_autolabel_through_the_registry(
    spot: tuple[Path, mf.Manifest], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from toolkit.client import connect

    repo, _ = spot
    pkg = make_package(tmp_path / "bright")
    files = [
        {"path": p.name, "md5": hashlib.md5(p.read_bytes()).hexdigest(), "size": p.stat().st_size, "url": str(p)}
        for p in sorted(pkg.iterdir())
    ]
    with connect() as client:  # the embedded registry in PITLANE_HOME, as the local admin
        client.create_project("perception")
        client.create_package("perception", "bright")
        client.publish("perception", "bright", "v1.2.0", files)
        client.set_channel("perception", "bright", "staging", "v1.2.0")
    monkeypatch.chdir(repo)
    r = runner.invoke(
        app, ["autolabel", "spot", "--model", "bright@staging", "--min-score", "0.1", "--device", "cpu", "--json"]
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["tag"] == "spot@v2" and out["lineage"]["detail"]["version"] == "v1.2.0"
    assert out["lineage"]["detail"]["package"] == "perception/bright"
    assert out["lineage"]["detail"]["files"] == {f["path"]: f["md5"] for f in files}
    _, m, _ = vs.resolve_ref("spot@v2", repo)
    assert {p.source for f in m.frames for p in f.predictions} == {"model:perception/bright@v1.2.0"}


def test_packages_without_the_interface_are_rejected(
    spot: tuple[Path, mf.Manifest], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, _ = spot
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "model.pt").write_bytes(b"weights")
    with pytest.raises(PredictorError, match=r"no predictor\.py; a package must contain predictor\.py"):
        autolabel("spot", model_dir=empty, repo=repo)
    (empty / "predictor.py").write_text("def nothing():\n    pass\n")
    with pytest.raises(PredictorError, match=r"no load\(\) function"):
        autolabel("spot", model_dir=empty, repo=repo)
    (empty / "predictor.py").write_text("def load(d, dev):\n    return object()\n")
    with pytest.raises(PredictorError, match=r"without predict\(\)"):
        autolabel("spot", model_dir=empty, repo=repo)
    (empty / "predictor.py").write_text(
        "class P:\n    def predict(self, image):\n        return [{'label': 'x', 'score': 'high'}]\n"
        "def load(d, dev):\n    return P()\n"
    )
    with pytest.raises(PredictorError, match="no numeric score"):
        autolabel("spot", model_dir=empty, repo=repo)
    assert [v.tag for v in vs.list_versions(repo, "spot")] == ["spot@v1"]
    monkeypatch.chdir(repo)
    r = runner.invoke(app, ["autolabel", "spot", "--model", "ghost@prod"])
    assert r.exit_code == 3 and r.stderr.startswith("error:") and r.stderr.count("\n") == 1


def test_predictor_below_the_package_root_is_found(spot: tuple[Path, mf.Manifest], tmp_path: Path) -> None:
    # A package released from a DVC output directory keeps its prefix: package/models/predictor.py.
    repo, _ = spot
    package = tmp_path / "package"
    make_package(package / "models")
    autolabel("spot", model_dir=package, repo=repo)
    assert [v.tag for v in vs.list_versions(repo, "spot")] == ["spot@v1", "spot@v2"]
    make_package(package / "other")
    with pytest.raises(PredictorError, match=r"several predictor\.py \(models/predictor\.py, other/predictor\.py\)"):
        autolabel("spot", model_dir=package, repo=repo)
