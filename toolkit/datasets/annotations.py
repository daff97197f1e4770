"""Export a dataset version to an annotation format; import labels back as a new version.

An import is all or nothing: every image in the file must be a frame of the
dataset with the same size, every box inside its image, every class known
(declared in the file or the dataset). Otherwise :class:`AnnotationImportError`
lists each mismatch and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from toolkit.datasets import manifest as mf
from toolkit.datasets import versions as vs
from toolkit.datasets.formats import FORMATS, cvat, datumaro, labelstudio
from toolkit.datasets.formats.base import Imported
from toolkit.errors import AnnotationImportError, UserError

BOX_TOLERANCE_PX = 1.0  # tools round coordinates; a box may overhang its image by this much
MAX_LISTED = 20


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    return fmt


def local_files_url(prefix: str) -> Callable[[mf.Frame], str]:
    """Label Studio local-files URLs: ``/data/local-files/?d=<prefix>/<frame path>``."""
    base = prefix.strip("/")

    def url(frame: mf.Frame) -> str:
        return f"/data/local-files/?d={base}/{frame.path}" if base else f"/data/local-files/?d={frame.path}"

    return url


def export_annotations(
    ref: str, fmt: str, out: Path, repo: Path | None = None, image_url: Callable[[mf.Frame], str] | None = None
) -> tuple[mf.Manifest, int]:
    """Write dataset ``ref`` (NAME or NAME@vN) as ``fmt`` to ``out``; returns the manifest and image count."""
    _check_format(fmt)
    ds, manifest, _ = vs.resolve_ref(ref, repo)
    if fmt == "cvat":
        count = cvat.export(manifest, out)
    elif fmt == "datumaro":
        count = datumaro.export(manifest, out)
    else:
        if image_url is None:
            image_url = local_files_url(ds.dir.relative_to(ds.root).as_posix())
        count = labelstudio.export(manifest, out, image_url)
    return manifest, count


def parse_file(fmt: str, path: Path, manifest: mf.Manifest) -> Imported:
    _check_format(fmt)
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if fmt == "cvat":
        return cvat.parse(path)
    if fmt == "datumaro":
        return datumaro.parse(path)
    sizes = {f.id: (f.width, f.height) for f in manifest.frames}
    return labelstudio.parse(path, sizes)


def apply_import(manifest: mf.Manifest, imported: Imported) -> tuple[mf.Manifest, int]:
    """A copy of ``manifest`` with the imported labels; raises with every mismatch found."""
    mismatches = list(imported.problems)
    by_id = manifest.frame_index()
    by_path = manifest.by_path()
    known = set(manifest.all_classes()) | set(imported.declared_classes)
    updated = manifest.model_copy(deep=True)
    target = updated.frame_index()
    seen: set[str] = set()
    changed = 0
    for img in imported.images:
        frame = by_id.get(img.frame_id or "") or by_path.get(img.name)
        if frame is None:
            mismatches.append(f"{img.name}: not a frame of dataset {manifest.name}")
            continue
        if frame.kind != "image":
            mismatches.append(f"{img.name}: is a {frame.kind} frame, not an image")
            continue
        if frame.id in seen:
            mismatches.append(f"{img.name}: appears twice")
            continue
        seen.add(frame.id)
        if (img.width, img.height) != (None, None) and (img.width, img.height) != (frame.width, frame.height):
            mismatches.append(
                f"{img.name}: size {img.width}x{img.height} does not match the frame's {frame.width}x{frame.height}"
            )
        for lab in [*img.labels, *(img.predictions or [])]:
            if lab.label not in known:
                mismatches.append(f"{img.name}: unknown class {lab.label!r}")
            if lab.bbox is not None:
                b = lab.bbox
                t = BOX_TOLERANCE_PX
                if (
                    b.w <= 0
                    or b.h <= 0
                    or b.x < -t
                    or b.y < -t
                    or b.x + b.w > frame.width + t
                    or b.y + b.h > frame.height + t
                ):
                    mismatches.append(
                        f"{img.name}: {lab.label} box {b.rounded(1)} is outside the {frame.width}x{frame.height} image"
                    )
        out = target[frame.id]
        if img.annotated and [x.key() for x in out.labels] != [x.key() for x in img.labels]:
            changed += 1
        if img.annotated:
            out.labels = img.labels
        if img.predictions is not None:
            out.predictions = img.predictions
    if mismatches:
        shown = mismatches[:MAX_LISTED]
        more = f" (+{len(mismatches) - MAX_LISTED} more)" if len(mismatches) > MAX_LISTED else ""
        raise AnnotationImportError(
            f"{imported.tool} import does not match dataset {manifest.name}: {len(mismatches)} mismatch(es): "
            + "; ".join(shown)
            + more,
            mismatches,
        )
    updated.classes = list(dict.fromkeys([*manifest.classes, *imported.declared_classes]))
    return updated, changed


def import_annotations(
    name: str, fmt: str, path: Path, repo: Path | None = None, detail: dict[str, object] | None = None
) -> tuple[mf.Manifest, vs.VersionInfo, int]:
    """Import ``path`` into dataset ``name`` as a new version; returns it, its tag and the frames changed."""
    ds = vs.locate(name, repo)
    manifest = mf.read(ds.dir)
    imported = parse_file(fmt, path, manifest)
    return commit_imported(ds, manifest, imported, {"format": fmt, "file": str(path), **(detail or {})})


def commit_imported(
    ds: vs.DatasetRef, manifest: mf.Manifest, imported: Imported, detail: dict[str, object]
) -> tuple[mf.Manifest, vs.VersionInfo, int]:
    updated, changed = apply_import(manifest, imported)
    updated.lineage.append(
        mf.LineageEntry(
            action="import", at=mf.now_iso(), detail={**detail, "images": len(imported.images), "changed": changed}
        )
    )
    info = vs.commit_version(ds.root, ds.dir, updated, f"import {imported.tool}", frames_changed=False)
    return updated, info, changed
