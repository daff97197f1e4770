"""Auto-labelling: run a released model package over a dataset's images as pre-annotations.

The predictor interface (version 1) a package must ship::

    predictor.py
        def load(model_dir: pathlib.Path, device: str) -> Predictor
    Predictor.predict(image: numpy.ndarray) -> list[Prediction]

``image`` is RGB ``uint8`` of shape (H, W, 3) (mono frames are repeated to
three channels, 16-bit depth is scaled to 8 bits by its maximum).
``device`` is "cpu", "cuda" or whatever ``--device`` said. A Prediction is
any object or dict with ``label`` (str), ``score`` (float) and ``bbox``
(``(x, y, w, h)`` in pixels, or None for a whole-image tag).

The package's files (name, version, md5 of each file) are recorded in the
new version's lineage, so a label can always be traced to the model that
proposed it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from toolkit.datasets import manifest as mf
from toolkit.datasets import versions as vs
from toolkit.errors import PitlaneError, PredictorError

PREDICTOR_FILE = "predictor.py"
INTERFACE = (
    "a package must contain predictor.py defining load(model_dir, device) -> an object whose "
    "predict(image: np.ndarray[H,W,3] uint8 RGB) returns a list of {label, score, bbox (x,y,w,h) | None}"
)


class Predictor(Protocol):
    def predict(self, image: np.ndarray) -> Iterable[Any]: ...


def predictor_root(package_dir: Path) -> Path:
    """Where predictor.py is: the package root, or the one directory below it holding the only predictor.py.

    A package released from a DVC output directory (e.g. ``models/``) keeps that prefix in its file paths.
    """
    if (package_dir / PREDICTOR_FILE).is_file():
        return package_dir
    found = sorted(package_dir.rglob(PREDICTOR_FILE))
    if len(found) == 1:
        return found[0].parent
    if found:
        names = ", ".join(str(p.relative_to(package_dir)) for p in found)
        raise PredictorError(f"{package_dir}: several {PREDICTOR_FILE} ({names}); a package must have one")
    raise PredictorError(f"{package_dir}: no {PREDICTOR_FILE}; {INTERFACE}")


def load_predictor(model_dir: Path, device: str = "cpu") -> Predictor:
    model_dir = predictor_root(model_dir)
    entry = model_dir / PREDICTOR_FILE
    module_name = f"_pitlane_predictor_{hashlib.sha256(str(entry.resolve()).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(module_name, entry)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has a loader
        raise PredictorError(f"{entry}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise PredictorError(f"{entry}: import failed ({exc.__class__.__name__}: {exc})") from None
    load = getattr(module, "load", None)
    if not callable(load):
        raise PredictorError(f"{entry}: no load() function; {INTERFACE}")
    try:
        predictor = load(model_dir, device)
    except Exception as exc:
        raise PredictorError(f"{entry}: load() failed ({exc.__class__.__name__}: {exc})") from None
    if not callable(getattr(predictor, "predict", None)):
        raise PredictorError(f"{entry}: load() returned {type(predictor).__name__} without predict(); {INTERFACE}")
    return predictor


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:  # pragma: no cover - torch is a dependency
        return "cpu"


def rgb_image(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        if img.mode in {"I;16", "I;16B", "I;16L", "I"}:
            arr = np.asarray(img, dtype=np.float64)
            top = arr.max() or 1.0
            gray = (arr * (255.0 / top)).astype(np.uint8)
            return np.repeat(gray[:, :, None], 3, axis=2)
        return np.array(img.convert("RGB"))  # writable: predictors may hand it to torch


def _field(pred: Any, name: str) -> Any:
    return pred.get(name) if isinstance(pred, dict) else getattr(pred, name, None)


def to_label(pred: Any, source: str, frame: mf.Frame) -> mf.Label:
    label, score, bbox = _field(pred, "label"), _field(pred, "score"), _field(pred, "bbox")
    if not isinstance(label, str) or not label:
        raise PredictorError(f"prediction without a label on {frame.path}: {pred!r}; {INTERFACE}")
    try:
        score_f = float(score)
    except (TypeError, ValueError):
        raise PredictorError(f"prediction {label!r} on {frame.path} has no numeric score") from None
    box = None
    if bbox is not None:
        try:
            x, y, w, h = (float(v) for v in bbox)
        except (TypeError, ValueError):
            raise PredictorError(f"prediction {label!r} on {frame.path}: bbox must be (x, y, w, h)") from None
        # Clip to the image: detectors overshoot edges; labelling tools reject boxes outside.
        x0, y0 = max(0.0, x), max(0.0, y)
        x1, y1 = min(float(frame.width), x + w), min(float(frame.height), y + h)
        if x1 <= x0 or y1 <= y0:
            raise PredictorError(f"prediction {label!r} on {frame.path}: empty box {bbox!r}")
        box = mf.BBox(x=x0, y=y0, w=x1 - x0, h=y1 - y0)
    return mf.Label(label=label, bbox=box, score=round(score_f, 6), source=source)


def file_hashes(model_dir: Path) -> dict[str, str]:
    out = {}
    for p in sorted(model_dir.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            out[p.relative_to(model_dir).as_posix()] = hashlib.md5(p.read_bytes(), usedforsecurity=False).hexdigest()
    return out


def fetch_package(ref: str, dest: Path) -> dict[str, Any]:
    """Resolve NAME@VERSION / NAME@CHANNEL through the registry and download its files into ``dest``."""
    from toolkit.client import connect

    with connect() as client:
        version = client.pull(ref, dest)
    return {
        "ref": ref,
        "package": f"{version.project}/{version.package}",
        "version": version.version,
        "content_hash": version.content_hash,
        "files": {f.path: f.md5 for f in version.files},
    }


def autolabel(
    name: str,
    *,
    model: str | None = None,
    model_dir: Path | None = None,
    min_score: float = 0.0,
    device: str = "auto",
    repo: Path | None = None,
) -> tuple[mf.Manifest, vs.VersionInfo, int]:
    """Predict on every image frame, replace the frames' predictions, and tag a new version."""
    if (model is None) == (model_dir is None):
        raise PredictorError("give a model reference (NAME@CHANNEL) or a local model directory, not both")
    if not 0.0 <= min_score <= 1.0:
        raise PredictorError(f"--min-score {min_score}: must be between 0 and 1")
    ds = vs.locate(name, repo)
    manifest = mf.read(ds.dir)
    images = manifest.image_frames()
    if not images:
        raise PredictorError(f"dataset {name} has no image frames")
    with tempfile.TemporaryDirectory(prefix="pitlane-model-") as tmp:
        if model is not None:
            package_dir = Path(tmp) / "package"
            package = fetch_package(model, package_dir)
            source = f"model:{package['package']}@{package['version']}"
        else:
            assert model_dir is not None
            package_dir = model_dir.resolve()
            if not package_dir.is_dir():
                raise PredictorError(f"{model_dir}: not a directory")
            package = {
                "ref": str(package_dir),
                "package": package_dir.name,
                "version": "local",
                "files": file_hashes(package_dir),
            }
            source = f"model:{package_dir.name}@local"
        used_device = resolve_device(device)
        predictor = load_predictor(package_dir, used_device)
        count = 0
        for frame in images:
            pixels = rgb_image(ds.dir / frame.path)
            try:
                raw = list(predictor.predict(pixels) or [])
            except PitlaneError:
                raise
            except Exception as exc:
                raise PredictorError(
                    f"predict() failed on {frame.path} ({exc.__class__.__name__}: {exc}); nothing was written"
                ) from None
            labels = [to_label(p, source, frame) for p in raw]
            frame.predictions = [lab for lab in labels if (lab.score or 0.0) >= min_score]
            count += len(frame.predictions)
    manifest.classes = list(dict.fromkeys([*manifest.classes, *(lab.label for f in images for lab in f.predictions)]))
    manifest.lineage.append(
        mf.LineageEntry(
            action="autolabel",
            at=mf.now_iso(),
            detail={**package, "min_score": min_score, "device": used_device, "predictions": count},
        )
    )
    info = vs.commit_version(
        ds.root, ds.dir, manifest, f"autolabel {package['package']}@{package['version']}", frames_changed=False
    )
    return manifest, info, count
