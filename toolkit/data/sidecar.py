"""The metadata sidecar: `<bag>.pitlane.json`, committed to Git next to `<bag>.dvc`.

It is the source of truth for everything the catalog knows about a bag: the
BagSummary from the index (its ``path`` relative to the repo), user tags and
notes, and lineage for slices. Written with sorted keys so diffs stay small.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from toolkit.bags.summary import BagSummary
from toolkit.data.eventmodel import BagEvent, SignalsInfo
from toolkit.errors import DataRepoError

SIDECAR_SUFFIX = ".pitlane.json"
SIDECAR_VERSION = 1


class Sidecar(BaseModel):
    pitlane: int = SIDECAR_VERSION
    id: str  # first 16 hex digits of the content sha256
    path: str  # the bag, relative to the data repo root, POSIX separators
    summary: BagSummary
    tags: dict[str, str] = Field(default_factory=dict)  # user tags; win over tags from the bag's metadata
    notes: str = ""
    lineage: dict[str, Any] | None = None  # for slices: the lineage record written by slice_bag
    ingested_at: str = ""
    signals: SignalsInfo | None = None  # derived series (`<bag>.signals.parquet`); None: not derived
    events: list[BagEvent] = Field(default_factory=list)  # time ranges from toolkit.data.events

    def all_tags(self) -> dict[str, str]:
        return {**self.summary.tags, **self.tags}

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False, separators=(",", ":"))

    def to_pretty_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Sidecar:
        return cls.model_validate_json(text)


def bag_id(sha256: str) -> str:
    return sha256[:16]


def sidecar_path(bag: Path) -> Path:
    """`bags/run 1.bag` -> `bags/run 1.bag.pitlane.json`; a rosbag2 dir `bags/run2` -> `bags/run2.pitlane.json`."""
    return bag.parent / (bag.name + SIDECAR_SUFFIX)


def bag_path_of(sidecar_file: Path) -> Path:
    return sidecar_file.parent / sidecar_file.name[: -len(SIDECAR_SUFFIX)]


def write_sidecar(path: Path, sidecar: Sidecar) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(sidecar.to_pretty_json(), encoding="utf-8")
    tmp.replace(path)  # atomic: a crash never leaves half a sidecar


def read_sidecar(path: Path) -> Sidecar:
    try:
        return Sidecar.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataRepoError(f"{path}: not a valid pitlane sidecar ({first})") from None
