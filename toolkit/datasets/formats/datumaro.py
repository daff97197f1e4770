"""Datumaro JSON format (``dm_format_version`` 1.0): a directory with ``annotations/<subset>.json``.

Item ids are frame ids and subsets are the dataset splits. Predictions are
bboxes/labels whose attributes carry ``score`` (Datumaro's convention) plus
``prediction: true`` and ``model``; the ``datumaro`` library reads the
export as is (tests import it with ``Dataset.import_from(path, "datumaro")``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from toolkit.datasets.formats.base import Imported, ImportedImage
from toolkit.datasets.manifest import BBox, Label, Manifest
from toolkit.errors import AnnotationImportError

FORMAT_VERSION = "1.0"
MEDIA_TYPE_IMAGE = 2  # datumaro MediaType.IMAGE


def export(manifest: Manifest, out: Path) -> int:
    classes = manifest.all_classes()
    index = {name: i for i, name in enumerate(classes)}
    categories = {
        "label": {
            "labels": [{"name": c, "parent": "", "attributes": []} for c in classes],
            "label_groups": [],
            "attributes": [],
        }
    }
    subsets: dict[str, list[dict[str, Any]]] = {}
    images = manifest.image_frames()
    for frame in images:
        anns: list[dict[str, Any]] = []
        for lab, pred in [(lab, False) for lab in frame.labels] + [(lab, True) for lab in frame.predictions]:
            attributes: dict[str, Any] = {}
            if pred:
                attributes = {
                    "score": lab.score if lab.score is not None else 0.0,
                    "prediction": True,
                    "model": lab.source,
                }
            ann: dict[str, Any] = {
                "id": len(anns),
                "type": "bbox" if lab.bbox else "label",
                "attributes": attributes,
                "group": 0,
                "label_id": index[lab.label],
            }
            if lab.bbox:
                ann["z_order"] = 0
                ann["bbox"] = [lab.bbox.x, lab.bbox.y, lab.bbox.w, lab.bbox.h]
            anns.append(ann)
        subsets.setdefault(frame.split, []).append(
            {
                "id": frame.id,
                "annotations": anns,
                "attr": {"topic": frame.topic, "timestamp_ns": frame.timestamp_ns, "source_md5": frame.source_md5},
                "image": {"path": frame.path, "size": [frame.height, frame.width]},
            }
        )
    ann_dir = out / "annotations"
    ann_dir.mkdir(parents=True, exist_ok=True)
    for subset, items in sorted(subsets.items()):
        doc = {
            "dm_format_version": FORMAT_VERSION,
            "media_type": MEDIA_TYPE_IMAGE,
            "infos": {"dataset": manifest.name, "version": manifest.version},
            "categories": categories,
            "items": items,
        }
        (ann_dir / f"{subset}.json").write_text(json.dumps(doc, indent=1) + "\n")
    return len(images)


def parse(path: Path) -> Imported:
    files = sorted((path / "annotations").glob("*.json")) if path.is_dir() else [path]
    if not files:
        raise AnnotationImportError(f"{path}: no annotations/*.json (not a Datumaro export)")
    result = Imported(tool="datumaro")
    for f in files:
        try:
            doc = json.loads(f.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise AnnotationImportError(f"{f}: not valid JSON ({exc})") from None
        if not isinstance(doc, dict) or "items" not in doc:
            raise AnnotationImportError(f"{f}: not a Datumaro annotation file (no 'items')")
        labels = [c.get("name", "") for c in doc.get("categories", {}).get("label", {}).get("labels", [])]
        for name in labels:
            if name not in result.declared_classes:
                result.declared_classes.append(name)
        for item in doc["items"]:
            result.images.append(_item(item, labels, result.problems))
    return result


def _item(item: dict[str, Any], labels: list[str], problems: list[str]) -> ImportedImage:
    image = item.get("image") or item.get("media") or {}
    size = image.get("size") or [None, None]
    entry = ImportedImage(
        name=str(image.get("path", item.get("id", ""))),
        frame_id=str(item.get("id", "")),
        height=size[0],
        width=size[1],
        predictions=[],
    )
    for ann in item.get("annotations", []):
        kind = ann.get("type")
        if kind not in {"bbox", "label"}:
            problems.append(f"{entry.frame_id}: {kind} annotations are not supported (bbox and label only)")
            continue
        label_id = ann.get("label_id")
        if not isinstance(label_id, int) or not 0 <= label_id < len(labels):
            problems.append(f"{entry.frame_id}: label_id {label_id} is not in the categories")
            continue
        bbox = None
        if kind == "bbox":
            x, y, w, h = (float(v) for v in ann.get("bbox", [0, 0, 0, 0]))
            bbox = BBox(x=x, y=y, w=w, h=h)
        attrs = ann.get("attributes") or {}
        if attrs.get("prediction") or ("score" in attrs and "model" in attrs):
            assert entry.predictions is not None
            entry.predictions.append(
                Label(
                    label=labels[label_id],
                    bbox=bbox,
                    score=float(attrs.get("score", 0.0)),
                    source=str(attrs.get("model") or "datumaro"),
                )
            )
        else:
            entry.labels.append(Label(label=labels[label_id], bbox=bbox, source="datumaro"))
    return entry
