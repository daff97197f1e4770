"""Label Studio JSON: a labelling config, tasks with pre-annotations, and reading exports back.

Tasks carry ``data.pitlane_frame`` (the frame id) so an export maps back to
frames whatever URL the image had. Boxes are ``rectanglelabels`` in percent
of the image (Label Studio's unit), frame-level tags are ``choices``. Model
predictions go in ``predictions`` (one per model version) and existing human
labels in ``annotations``, so a project starts where the dataset is.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from toolkit.datasets.formats.base import Imported, ImportedImage
from toolkit.datasets.manifest import BBox, Frame, Label, Manifest
from toolkit.errors import AnnotationImportError, DatasetError

BOX_CONTROL = "label"
TAG_CONTROL = "tags"
IMAGE_OBJECT = "image"


def label_config(classes: list[str]) -> str:
    if not classes:
        raise DatasetError("the dataset has no classes yet: pass --labels car,person,...")
    labels = "\n".join(f"    <Label value={quoteattr(c)}/>" for c in classes)
    choices = "\n".join(f"    <Choice value={quoteattr(c)}/>" for c in classes)
    return (
        "<View>\n"
        f'  <Image name="{IMAGE_OBJECT}" value="$image"/>\n'
        f'  <RectangleLabels name="{BOX_CONTROL}" toName="{IMAGE_OBJECT}">\n{labels}\n  </RectangleLabels>\n'
        f'  <Choices name="{TAG_CONTROL}" toName="{IMAGE_OBJECT}" choice="multiple" showInline="true">\n'
        f"{choices}\n  </Choices>\n"
        "</View>\n"
    )


def _result(lab: Label, frame: Frame, idx: str, with_score: bool) -> dict[str, Any]:
    if lab.bbox is None:
        out: dict[str, Any] = {
            "id": idx,
            "from_name": TAG_CONTROL,
            "to_name": IMAGE_OBJECT,
            "type": "choices",
            "value": {"choices": [lab.label]},
        }
    else:
        w, h = frame.width or 1, frame.height or 1
        b = lab.bbox
        out = {
            "id": idx,
            "from_name": BOX_CONTROL,
            "to_name": IMAGE_OBJECT,
            "type": "rectanglelabels",
            "original_width": frame.width,
            "original_height": frame.height,
            "image_rotation": 0,
            "value": {
                "x": b.x * 100 / w,
                "y": b.y * 100 / h,
                "width": b.w * 100 / w,
                "height": b.h * 100 / h,
                "rotation": 0,
                "rectanglelabels": [lab.label],
            },
        }
    if with_score and lab.score is not None:
        out["score"] = lab.score
    return out


def tasks(manifest: Manifest, image_url: Callable[[Frame], str]) -> list[dict[str, Any]]:
    """Label Studio import tasks for every image frame."""
    out: list[dict[str, Any]] = []
    for frame in manifest.image_frames():
        task: dict[str, Any] = {
            "data": {
                IMAGE_OBJECT: image_url(frame),
                "pitlane_frame": frame.id,
                "pitlane_path": frame.path,
                "topic": frame.topic,
                "split": frame.split,
            },
        }
        by_model: dict[str, list[Label]] = {}
        for lab in frame.predictions:
            by_model.setdefault(lab.source, []).append(lab)
        if by_model:
            task["predictions"] = [
                {
                    "model_version": model,
                    "score": sum(lab.score or 0.0 for lab in labs) / len(labs),
                    "result": [_result(lab, frame, f"p{i}", True) for i, lab in enumerate(labs)],
                }
                for model, labs in by_model.items()
            ]
        if frame.labels:
            task["annotations"] = [
                {"result": [_result(lab, frame, f"a{i}", False) for i, lab in enumerate(frame.labels)]}
            ]
        out.append(task)
    return out


def export(manifest: Manifest, out: Path, image_url: Callable[[Frame], str]) -> int:
    data = tasks(manifest, image_url)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1) + "\n")
    return len(data)


def _labels(
    results: list[dict[str, Any]],
    size: tuple[int, int] | None,
    source: str,
    default_score: float | None,
    problems: list[str],
    where: str,
) -> list[Label]:
    labels: list[Label] = []
    for res in results:
        kind = res.get("type")
        value = res.get("value") or {}
        score = res.get("score", default_score)
        if kind == "choices":
            labels.extend(Label(label=c, score=score, source=source) for c in value.get("choices", []))
            continue
        if kind != "rectanglelabels":
            problems.append(f"{where}: {kind} results are not supported (rectanglelabels and choices only)")
            continue
        w = res.get("original_width") or (size[0] if size else None)
        h = res.get("original_height") or (size[1] if size else None)
        if not w or not h:
            problems.append(f"{where}: box without original_width/original_height")
            continue
        if value.get("rotation"):
            problems.append(f"{where}: rotated boxes are not supported")
            continue
        bbox = BBox(
            x=value["x"] * w / 100, y=value["y"] * h / 100, w=value["width"] * w / 100, h=value["height"] * h / 100
        )
        labels.extend(
            Label(label=name, bbox=bbox, score=score, source=source) for name in value.get("rectanglelabels", [])
        )
    return labels


def parse_tasks(data: Any, origin: str, sizes: Mapping[str, tuple[int, int]] | None = None) -> Imported:
    """Read a Label Studio JSON export (the full 'JSON' export: tasks with annotations and predictions)."""
    if not isinstance(data, list):
        raise AnnotationImportError(f"{origin}: not a Label Studio JSON export (expected a list of tasks)")
    result = Imported(tool="labelstudio")
    sizes = sizes or {}
    for n, task in enumerate(data):
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            raise AnnotationImportError(f"{origin}: task #{n} has no 'data' (JSON_MIN exports are not supported)")
        frame_id = task["data"].get("pitlane_frame")
        name = str(task["data"].get("pitlane_path") or task["data"].get(IMAGE_OBJECT) or f"task {task.get('id', n)}")
        where = f"task {task.get('id', n)}"
        size = sizes.get(str(frame_id)) if frame_id else None
        entry = ImportedImage(name=name, frame_id=str(frame_id) if frame_id else None)
        done = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
        if done:
            latest = max(done, key=lambda a: (str(a.get("updated_at") or a.get("created_at") or ""), a.get("id") or 0))
            who = latest.get("completed_by")
            if isinstance(who, dict):
                who = who.get("email") or who.get("id")
            source = f"labelstudio:{who}" if who not in (None, "") else "labelstudio"
            entry.labels = _labels(latest.get("result") or [], size, source, None, result.problems, where)
            _take_size(entry, latest.get("result") or [])
        else:
            entry.annotated = False
        raw_preds = task.get("predictions") or []
        if all(isinstance(p, dict) for p in raw_preds):
            preds: list[Label] = []
            for pred in raw_preds:
                model = str(pred.get("model_version") or "labelstudio")
                preds += _labels(pred.get("result") or [], size, model, pred.get("score"), result.problems, where)
                _take_size(entry, pred.get("result") or [])
            entry.predictions = preds
        else:
            # Server exports list prediction ids only: they say nothing new, keep the dataset's predictions.
            entry.predictions = None
        result.images.append(entry)
    return result


def _take_size(entry: ImportedImage, results: list[dict[str, Any]]) -> None:
    for res in results:
        if res.get("original_width") and res.get("original_height"):
            entry.width, entry.height = int(res["original_width"]), int(res["original_height"])
            return


def parse(path: Path, sizes: Mapping[str, tuple[int, int]] | None = None) -> Imported:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AnnotationImportError(f"{path}: not valid JSON ({exc})") from None
    return parse_tasks(data, str(path), sizes)
