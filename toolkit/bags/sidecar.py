"""User tags for a bag: ``<bag>.pitlane.yaml`` next to the bag (file or rosbag2 directory).

Example::

    vehicle: odaiba-3
    driver: kim
    route: loop-a
    weather: rain
    tags: {campaign: winter-2025}
    notes: lidar occluded after 120 s
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from toolkit.bags.formats import load_yaml
from toolkit.errors import BagError

SIDECAR_SUFFIX = ".pitlane.yaml"
TAG_KEYS = ("vehicle", "driver", "route", "weather")


def sidecar_path(bag: Path) -> Path:
    bag = Path(bag)
    return bag.parent / f"{bag.name.rstrip('/')}{SIDECAR_SUFFIX}"


def read_sidecar(bag: Path) -> tuple[dict[str, str], str]:
    """(tags, notes) from the bag's sidecar; empty when there is none."""
    path = sidecar_path(bag)
    if not path.is_file():
        return {}, ""
    try:
        doc: Any = load_yaml(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise BagError(f"{path}: sidecar does not parse as YAML ({type(exc).__name__})") from exc
    if doc is None:
        return {}, ""
    if not isinstance(doc, dict):
        raise BagError(f"{path}: sidecar must be a mapping (vehicle, driver, route, weather, tags, notes)")
    tags = {key: _scalar(path, key, doc[key]) for key in TAG_KEYS if doc.get(key) is not None}
    extra = doc.get("tags") or {}
    if not isinstance(extra, dict):
        raise BagError(f"{path}: 'tags' must be a mapping of names to values")
    tags.update({str(k): _scalar(path, str(k), v) for k, v in extra.items() if v is not None})
    notes = doc.get("notes") or ""
    return tags, str(notes)


def _scalar(path: Path, key: str, value: Any) -> str:
    if isinstance(value, dict | list):
        raise BagError(f"{path}: tag {key!r} must be a single value")
    return str(value)
