"""Read-only views of datasets: list, stats and label diffs between versions."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from pydantic import BaseModel, Field

from toolkit.datasets import manifest as mf
from toolkit.datasets import versions as vs

CHANGE_IOU = 0.5  # a box of the same class overlapping this much is "moved", not removed + added


class DatasetListing(BaseModel):
    name: str
    versions: int
    latest: str
    frames: int
    path: str
    digest: str
    date: str


class DatasetStats(BaseModel):
    name: str
    version: int
    frames: int
    images: int
    pointclouds: int
    labelled_frames: int
    classes: dict[str, int] = Field(default_factory=dict)  # human labels per class
    predictions: dict[str, int] = Field(default_factory=dict)  # predictions per class
    splits: dict[str, int] = Field(default_factory=dict)
    topics: dict[str, int] = Field(default_factory=dict)
    sources: list[mf.SourceBag] = Field(default_factory=list)
    skipped: list[mf.SkipCount] = Field(default_factory=list)


class LabelChange(BaseModel):
    frame: str
    path: str
    kind: str  # added, removed, changed
    label: str
    before: mf.Label | None = None
    after: mf.Label | None = None


class DatasetDiff(BaseModel):
    a: str
    b: str
    frames_added: list[str] = Field(default_factory=list)
    frames_removed: list[str] = Field(default_factory=list)
    changes: list[LabelChange] = Field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(1 for c in self.changes if c.kind == kind)


def list_datasets(repo: Path | None = None) -> list[DatasetListing]:
    root = vs.repo_root((repo or Path.cwd()).resolve())
    by_name: dict[str, list[vs.VersionInfo]] = {}
    for info in vs.list_versions(root):
        by_name.setdefault(info.name, []).append(info)
    out = []
    for name, infos in sorted(by_name.items()):
        last = infos[-1]
        out.append(
            DatasetListing(
                name=name,
                versions=len(infos),
                latest=last.tag,
                frames=last.frames,
                path=last.path,
                digest=last.digest,
                date=last.date,
            )
        )
    return out


def stats(manifest: mf.Manifest) -> DatasetStats:
    classes: Counter[str] = Counter()
    preds: Counter[str] = Counter()
    for f in manifest.frames:
        classes.update(lab.label for lab in f.labels)
        preds.update(lab.label for lab in f.predictions)
    return DatasetStats(
        name=manifest.name,
        version=manifest.version,
        frames=len(manifest.frames),
        images=sum(1 for f in manifest.frames if f.kind == "image"),
        pointclouds=sum(1 for f in manifest.frames if f.kind == "pointcloud"),
        labelled_frames=sum(1 for f in manifest.frames if f.labels),
        classes={c: classes[c] for c in manifest.all_classes() if classes[c]},
        predictions={c: preds[c] for c in manifest.all_classes() if preds[c]},
        splits=dict(sorted(Counter(f.split for f in manifest.frames).items())),
        topics=dict(sorted(Counter(f.topic for f in manifest.frames).items())),
        sources=manifest.sources,
        skipped=manifest.skipped,
    )


def _iou(a: mf.BBox, b: mf.BBox) -> float:
    ix = max(0.0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0.0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    union = a.w * a.h + b.w * b.h - inter
    return inter / union if union > 0 else 0.0


def _frame_changes(frame: mf.Frame, before: list[mf.Label], after: list[mf.Label]) -> list[LabelChange]:
    old = list(before)
    new = list(after)
    for lab in list(new):  # identical labels are unchanged
        match = next((o for o in old if o.key() == lab.key()), None)
        if match is not None:
            old.remove(match)
            new.remove(lab)
    changes: list[LabelChange] = []
    for lab in list(new):  # same class, overlapping box: moved/resized
        if lab.bbox is None:
            continue
        best = max(
            (o for o in old if o.label == lab.label and o.bbox is not None),
            key=lambda o: _iou(o.bbox, lab.bbox) if o.bbox and lab.bbox else 0.0,
            default=None,
        )
        if best is not None and best.bbox is not None and _iou(best.bbox, lab.bbox) >= CHANGE_IOU:
            changes.append(
                LabelChange(frame=frame.id, path=frame.path, kind="changed", label=lab.label, before=best, after=lab)
            )
            old.remove(best)
            new.remove(lab)
    for lab in list(new):  # same box, other class: relabelled
        match = next(
            (o for o in old if o.bbox is not None and lab.bbox is not None and o.bbox.rounded() == lab.bbox.rounded()),
            None,
        )
        if match is not None:
            changes.append(
                LabelChange(frame=frame.id, path=frame.path, kind="changed", label=lab.label, before=match, after=lab)
            )
            old.remove(match)
            new.remove(lab)
    changes += [LabelChange(frame=frame.id, path=frame.path, kind="removed", label=o.label, before=o) for o in old]
    changes += [LabelChange(frame=frame.id, path=frame.path, kind="added", label=n.label, after=n) for n in new]
    return changes


def diff(a: mf.Manifest, b: mf.Manifest, a_name: str, b_name: str) -> DatasetDiff:
    """Human-label changes from ``a`` to ``b`` (predictions are not labels and are not diffed)."""
    fa, fb = a.frame_index(), b.frame_index()
    result = DatasetDiff(
        a=a_name, b=b_name, frames_added=sorted(set(fb) - set(fa)), frames_removed=sorted(set(fa) - set(fb))
    )
    for fid, frame_b in fb.items():
        before = fa[fid].labels if fid in fa else []
        result.changes += _frame_changes(frame_b, before, frame_b.labels)
    for fid in result.frames_removed:
        frame_a = fa[fid]
        result.changes += _frame_changes(frame_a, frame_a.labels, [])
    return result
