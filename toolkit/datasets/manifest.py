"""The dataset manifest: one JSON file listing every frame, its source and its labels.

It lives in Git next to the DVC-tracked ``frames/`` directory, so label changes
are small Git diffs and any version can be read back from its tag without
touching the DVC cache. Its SHA-256 is the message of the version tag.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

from toolkit.errors import DatasetError

MANIFEST_FILE = "manifest.json"
FRAMES_DIR = "frames"
SCHEMA_VERSION = 1

Split = Literal["train", "val", "test"]


class BBox(BaseModel):
    """Axis-aligned box in pixels: top-left corner, width, height."""

    x: float
    y: float
    w: float
    h: float

    @field_validator("x", "y", "w", "h")
    @classmethod
    def _round(cls, v: float) -> float:
        # 1e-4 px is far below annotation precision, and absorbs the float noise of
        # percent <-> pixel conversions, so export -> import round trips are exact.
        return round(float(v), 4)

    def rounded(self, ndigits: int = 3) -> tuple[float, float, float, float]:
        return (round(self.x, ndigits), round(self.y, ndigits), round(self.w, ndigits), round(self.h, ndigits))


class Label(BaseModel):
    """A box label, or a frame-level tag when ``bbox`` is None."""

    label: str
    bbox: BBox | None = None
    score: float | None = None  # predictions carry a score; human labels usually don't
    source: str = "human"  # "human", "cvat", "labelstudio:<user>", "model:NAME@VERSION"

    def key(self) -> tuple[str, tuple[float, float, float, float] | None]:
        return (self.label, self.bbox.rounded() if self.bbox else None)


class Calibration(BaseModel):
    """sensor_msgs/CameraInfo found on the camera's namespace."""

    topic: str
    frame_id: str = ""
    width: int = 0
    height: int = 0
    distortion_model: str = ""
    d: list[float] = Field(default_factory=list)
    k: list[float] = Field(default_factory=list)
    r: list[float] = Field(default_factory=list)
    p: list[float] = Field(default_factory=list)


class Frame(BaseModel):
    id: str
    path: str  # relative to the dataset directory, e.g. frames/spot__camera/ab12cd34ef56_1672846512263435334.jpg
    kind: Literal["image", "pointcloud"]
    topic: str
    msgtype: str
    timestamp_ns: int  # bag (log) time of the message
    header_stamp_ns: int | None = None  # header.stamp when present
    frame_id: str = ""
    width: int = 0
    height: int = 0
    encoding: str = ""
    source_bag: str  # bag path as given at creation
    source_md5: str
    split: Split
    calibration: Calibration | None = None
    labels: list[Label] = Field(default_factory=list)
    predictions: list[Label] = Field(default_factory=list)
    extra: dict[str, Any] = Field(default_factory=dict)  # depth_scale, point count, fields


class SourceBag(BaseModel):
    path: str
    md5: str
    split: Split
    frames: int


class SkipCount(BaseModel):
    topic: str
    reason: str
    count: int


class LineageEntry(BaseModel):
    """How a version came to be: created from bags, imported from a tool, auto-labelled by a package."""

    action: Literal["create", "import", "autolabel", "edit"]
    at: str
    detail: dict[str, Any] = Field(default_factory=dict)


class Manifest(BaseModel):
    schema_version: int = SCHEMA_VERSION
    name: str
    version: int = 0  # 0 until the first version tag is written
    created: str = Field(default_factory=lambda: now_iso())
    params: dict[str, Any] = Field(default_factory=dict)  # topics, every, lidar format, split ratios
    classes: list[str] = Field(default_factory=list)
    sources: list[SourceBag] = Field(default_factory=list)
    skipped: list[SkipCount] = Field(default_factory=list)
    lineage: list[LineageEntry] = Field(default_factory=list)
    frames: list[Frame] = Field(default_factory=list)

    def frame_index(self) -> dict[str, Frame]:
        return {f.id: f for f in self.frames}

    def by_path(self) -> dict[str, Frame]:
        return {f.path: f for f in self.frames}

    def image_frames(self) -> list[Frame]:
        return [f for f in self.frames if f.kind == "image"]

    def all_classes(self) -> list[str]:
        """Declared classes first, then any label or prediction class seen, in order."""
        seen = dict.fromkeys(self.classes)
        for f in self.frames:
            for lab in (*f.labels, *f.predictions):
                seen.setdefault(lab.label)
        return list(seen)


def now_iso() -> str:
    return datetime.now(tz=UTC).replace(microsecond=0).isoformat()


def dumps(manifest: Manifest) -> bytes:
    """Canonical bytes: stable key order and indentation, so digests and Git diffs are stable."""
    text = json.dumps(manifest.model_dump(mode="json", exclude_none=False), indent=1, sort_keys=False)
    return (text + "\n").encode()


def digest_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write(manifest: Manifest, dataset_dir: Path) -> str:
    """Write manifest.json atomically; returns its digest."""
    data = dumps(manifest)
    target = dataset_dir / MANIFEST_FILE
    tmp = target.with_suffix(".json.tmp")
    tmp.write_bytes(data)
    tmp.replace(target)
    return digest_bytes(data)


def loads(data: bytes | str, origin: str) -> Manifest:
    try:
        return Manifest.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise DatasetError(f"{origin}: invalid manifest ({where}: {first['msg']})") from None


def read(dataset_dir: Path) -> Manifest:
    path = dataset_dir / MANIFEST_FILE
    if not path.is_file():
        raise DatasetError(f"{dataset_dir}: no {MANIFEST_FILE} (not a Pitlane dataset)")
    return loads(path.read_bytes(), str(path))
