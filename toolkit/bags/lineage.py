"""The lineage sidecar of a slice: ``<out>.lineage.json`` next to the sliced bag.

It ties a slice to the exact source bytes (md5) and selection that made it, so
a run record can trace a model back through slices to source bags.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from toolkit.bags.summary import BagFormat
from toolkit.errors import BagError, BagNotFoundError

LINEAGE_SUFFIX = ".lineage.json"
LINEAGE_VERSION = 1


class LineageSource(BaseModel):
    path: str  # absolute path of the source bag when sliced
    format: BagFormat
    md5: str
    size_bytes: int


class Lineage(BaseModel):
    version: int = LINEAGE_VERSION
    tool: str = "pitlane"
    tool_version: str
    created_at: str  # ISO 8601, UTC
    source: LineageSource
    output_format: BagFormat
    # The range written, inclusive at both ends: the bounds given, and for a side without one the
    # source's own start or end (the whole bag on that side).
    start_ns: int
    end_ns: int
    topics: list[str]  # topics written (after glob expansion)
    topic_patterns: list[str] | None = None  # what the caller asked for; None means all topics
    message_count: int
    per_topic: dict[str, int] = Field(default_factory=dict)
    converted: bool = False  # True when message bytes were re-serialized (ROS 1 <-> CDR)
    left_out: dict[str, str] = Field(default_factory=dict)  # topics the output format cannot hold -> why


def lineage_path(out: str | os.PathLike[str]) -> Path:
    p = Path(out)
    if p.name.endswith(LINEAGE_SUFFIX):
        return p
    return p.parent / f"{p.name}{LINEAGE_SUFFIX}"


def write_lineage(out: str | os.PathLike[str], lineage: Lineage, *, target: Path | None = None) -> Path:
    """Write the sidecar for bag *out* (to *target* when given, e.g. a temp name renamed later)."""
    path = target or lineage_path(out)
    path.write_text(lineage.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return path


def read_lineage(path: str | os.PathLike[str]) -> Lineage:
    """Read the lineage of a slice, given the slice itself or its ``.lineage.json``."""
    sidecar = lineage_path(path)
    if not sidecar.is_file():
        raise BagNotFoundError(f"{sidecar}: no lineage sidecar (was this bag made by slice_bag?)")
    try:
        return Lineage.model_validate(json.loads(sidecar.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, UnicodeDecodeError, ValidationError) as exc:
        raise BagError(f"{sidecar}: lineage sidecar is malformed ({type(exc).__name__})") from exc
