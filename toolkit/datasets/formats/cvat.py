"""CVAT for images 1.1 (XML): export and import.

Human labels are written as ``source="manual"`` boxes/tags; predictions as
``source="auto"`` with a ``score`` attribute (and ``model`` naming where they
came from), which is how CVAT marks automatic annotations. On import every
``auto`` shape with a score is a prediction, everything else a label.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from toolkit.datasets.formats.base import Imported, ImportedImage
from toolkit.datasets.manifest import BBox, Label, Manifest, now_iso
from toolkit.errors import AnnotationImportError

_PALETTE = ["#fa3253", "#33ddff", "#34d1b7", "#ff6037", "#b83df5", "#aaf0d1", "#ff007c", "#ddff33", "#24b353"]


def _num(v: float) -> str:
    return repr(round(float(v), 4))


def export(manifest: Manifest, out: Path) -> int:
    """Write ``out`` (an .xml file); returns the number of images written (point clouds are not images)."""
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    meta = ET.SubElement(root, "meta")
    task = ET.SubElement(meta, "task")
    images = manifest.image_frames()
    for tag, text in (
        ("id", "0"),
        ("name", f"{manifest.name}@v{manifest.version}"),
        ("size", str(len(images))),
        ("mode", "annotation"),
    ):
        ET.SubElement(task, tag).text = text
    labels_el = ET.SubElement(task, "labels")
    for i, name in enumerate(manifest.all_classes()):
        lab = ET.SubElement(labels_el, "label")
        ET.SubElement(lab, "name").text = name
        ET.SubElement(lab, "color").text = _PALETTE[i % len(_PALETTE)]
        ET.SubElement(lab, "type").text = "any"
        attrs = ET.SubElement(lab, "attributes")
        for attr_name, input_type, default, values in (
            ("score", "number", "0", "0;1;0.0001"),
            ("model", "text", "", ""),
        ):
            attr = ET.SubElement(attrs, "attribute")
            ET.SubElement(attr, "name").text = attr_name
            ET.SubElement(attr, "mutable").text = "False"
            ET.SubElement(attr, "input_type").text = input_type
            ET.SubElement(attr, "default_value").text = default
            ET.SubElement(attr, "values").text = values
    ET.SubElement(meta, "dumped").text = now_iso()
    for idx, frame in enumerate(images):
        img = ET.SubElement(
            root,
            "image",
            {
                "id": str(idx),
                "name": frame.path,
                "width": str(frame.width),
                "height": str(frame.height),
                "subset": frame.split,
            },
        )
        for label in frame.labels:
            _shape(img, label, prediction=False)
        for label in frame.predictions:
            _shape(img, label, prediction=True)
    ET.indent(root)
    out.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(out, encoding="utf-8", xml_declaration=True)
    return len(images)


def _shape(img: ET.Element, lab: Label, *, prediction: bool) -> None:
    source = "auto" if prediction else "manual"
    if lab.bbox is None:
        el = ET.SubElement(img, "tag", {"label": lab.label, "source": source})
    else:
        b = lab.bbox
        el = ET.SubElement(
            img,
            "box",
            {
                "label": lab.label,
                "source": source,
                "occluded": "0",
                "xtl": _num(b.x),
                "ytl": _num(b.y),
                "xbr": _num(b.x + b.w),
                "ybr": _num(b.y + b.h),
                "z_order": "0",
            },
        )
    if prediction:
        ET.SubElement(el, "attribute", {"name": "score"}).text = _num(lab.score if lab.score is not None else 0.0)
        ET.SubElement(el, "attribute", {"name": "model"}).text = lab.source


def parse(path: Path) -> Imported:
    try:
        tree = SafeET.parse(str(path))
    except (ET.ParseError, DefusedXmlException) as exc:
        raise AnnotationImportError(f"{path}: not valid CVAT XML ({exc})") from None
    root = tree.getroot()
    if root.tag != "annotations":
        raise AnnotationImportError(f"{path}: not CVAT for images XML (root element <{root.tag}>)")
    result = Imported(tool="cvat")
    version = (root.findtext("version") or "").strip()
    if version and version != "1.1":
        result.problems.append(f"CVAT XML version {version} (expected 1.1)")
    for name_el in root.iterfind("./meta//labels/label/name"):
        if name_el.text and name_el.text.strip() not in result.declared_classes:
            result.declared_classes.append(name_el.text.strip())
    if root.find("./track") is not None:
        result.problems.append("CVAT video tracks are not supported (export 'CVAT for images 1.1')")
    for img in root.iterfind("image"):
        name = img.get("name", "")
        entry = ImportedImage(name=name, width=_int(img.get("width")), height=_int(img.get("height")), predictions=[])
        for el in img:
            if el.tag not in {"box", "tag"}:
                result.problems.append(f"{name}: <{el.tag}> shapes are not supported (boxes and tags only)")
                continue
            attrs = {a.get("name", ""): (a.text or "").strip() for a in el.iterfind("attribute")}
            bbox = None
            if el.tag == "box":
                try:
                    xtl, ytl, xbr, ybr = (float(el.get(k, "")) for k in ("xtl", "ytl", "xbr", "ybr"))
                except ValueError:
                    result.problems.append(f"{name}: box with non-numeric coordinates")
                    continue
                bbox = BBox(x=xtl, y=ytl, w=xbr - xtl, h=ybr - ytl)
            label = el.get("label", "")
            if el.get("source") == "auto" and "score" in attrs:
                try:
                    score = float(attrs["score"])
                except ValueError:
                    result.problems.append(f"{name}: prediction score {attrs['score']!r} is not a number")
                    continue
                assert entry.predictions is not None
                source = attrs.get("model") or "cvat"
                entry.predictions.append(Label(label=label, bbox=bbox, score=score, source=source))
            else:
                entry.labels.append(Label(label=label, bbox=bbox, source="cvat"))
        result.images.append(entry)
    return result


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None
