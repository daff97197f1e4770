"""What an annotation file says, independent of its format."""

from __future__ import annotations

from dataclasses import dataclass, field

from toolkit.datasets.manifest import Label


@dataclass
class ImportedImage:
    """One image entry of an annotation file; ``predictions`` None means the file says nothing about them."""

    name: str  # the frame path (CVAT image name, Datumaro image path) or frame id
    frame_id: str | None = None
    width: int | None = None
    height: int | None = None
    labels: list[Label] = field(default_factory=list)
    predictions: list[Label] | None = None
    annotated: bool = True  # False: present in the file but nobody labelled it (keep the manifest's labels)


@dataclass
class Imported:
    tool: str
    images: list[ImportedImage] = field(default_factory=list)
    declared_classes: list[str] = field(default_factory=list)  # classes the file itself declares
    problems: list[str] = field(default_factory=list)  # format-level problems found while parsing
