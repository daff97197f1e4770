"""Which paths are bags: files given by name, bag files and rosbag2 directories found below directories.

Folders as users have them (a vehicle's USB disk) mix `.bag`, `.mcap` and loose
`.db3` files with rosbag2 directories. A directory is one rosbag2 bag only when
it has `metadata.yaml` or its storage files are the numbered parts of one
recording (`NAME_0.db3`, `NAME_1.db3`, ...); otherwise each file is its own bag.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from toolkit.data.sidecar import SIDECAR_SUFFIX

BAG_FILE_SUFFIXES = {".bag", ".mcap", ".db3"}
_SKIP_DIRS = {".git", ".dvc", ".pitlane"}
_PART = re.compile(r"^(?P<name>.+)_(?P<n>\d+)$")


def is_rosbag2_dir(path: Path) -> bool:
    """A rosbag2 directory: has metadata.yaml, or its bag files are the numbered parts of one recording."""
    if not path.is_dir():
        return False
    if (path / "metadata.yaml").is_file():
        return True
    files = [p for p in path.iterdir() if p.is_file() and p.suffix.lower() in BAG_FILE_SUFFIXES]
    if not files:
        return False
    recordings: set[tuple[str, str]] = set()
    for f in files:
        m = _PART.match(f.stem)
        if m is None or f.suffix.lower() == ".bag":
            return False
        recordings.add((m.group("name"), f.suffix.lower()))
    return len(recordings) == 1


def find_bags(paths: list[Path]) -> list[Path]:
    """Bags named by `paths`, in order, without duplicates.

    A file named explicitly is always a candidate (so an unknown or empty file
    is reported, not silently skipped); below a plain directory only files with
    bag suffixes and rosbag2 directories count.
    """
    out: list[Path] = []
    seen: set[Path] = set()

    def push(p: Path) -> None:
        key = p.absolute()
        if key not in seen:
            seen.add(key)
            out.append(p)

    for path in paths:
        if path.is_dir() and not is_rosbag2_dir(path):
            for dirpath, dirnames, filenames in os.walk(path):
                here = Path(dirpath)
                bag_dirs = [d for d in dirnames if d not in _SKIP_DIRS and is_rosbag2_dir(here / d)]
                dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and d not in bag_dirs)
                for d in sorted(bag_dirs):
                    push(here / d)
                for f in sorted(filenames):
                    if Path(f).suffix in BAG_FILE_SUFFIXES and not f.endswith(SIDECAR_SUFFIX):
                        push(here / f)
        else:
            push(path)
    return out
