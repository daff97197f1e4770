"""Which kind of bag a path is, and which storage files hold its messages.

Formats are recognised by magic bytes, not by extension, so a renamed file
still opens and a file with a bag extension but other content fails clearly.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from toolkit.bags.summary import BagFormat
from toolkit.errors import BagError, BagNotFoundError, BagPermissionError, CorruptBagError, UnknownBagFormatError

ROS1_MAGIC = b"#ROSBAG V2.0\n"
MCAP_MAGIC = b"\x89MCAP0\r\n"
SQLITE_MAGIC = b"SQLite format 3\x00"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
METADATA_YAML = "metadata.yaml"

_STORAGE_SUFFIXES = {".db3": BagFormat.ROS2_SQLITE3, ".mcap": BagFormat.MCAP}


@dataclass(frozen=True)
class BagLayout:
    """A bag resolved to its storage: one file, or a rosbag2 directory of one or more files."""

    path: Path
    format: BagFormat
    files: list[Path]
    metadata_yaml: Path | None = None
    metadata: dict[str, Any] = field(default_factory=dict)  # rosbag2_bagfile_information, {} when absent

    @property
    def is_directory(self) -> bool:
        return self.path.is_dir()

    @property
    def size_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.files)


# libyaml's parser when PyYAML was built with it: metadata.yaml parsing otherwise dominates index time.
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """yaml.safe_load, through libyaml when available."""
    return yaml.load(text, Loader=_YAML_LOADER)


def detect_format(path: str | os.PathLike[str]) -> BagFormat:
    """The bag format of *path*: a ROS 1 ``.bag``, an ``.mcap`` file, or a rosbag2 directory / ``.db3``."""
    return resolve(path).format


def resolve(path: str | os.PathLike[str]) -> BagLayout:
    """Resolve *path* to its format and storage files; raises a one-line BagError otherwise."""
    p = Path(path)
    try:
        if p.is_dir():
            return _resolve_directory(p)
        return BagLayout(path=p, format=_sniff_file(p), files=[p])
    except PermissionError as exc:
        raise BagPermissionError(f"{p}: permission denied") from exc


def _sniff_file(p: Path) -> BagFormat:
    head = _read_head(p)
    if not head:
        raise BagError(f"{p}: file is empty")
    if head.startswith(ROS1_MAGIC):
        return BagFormat.ROS1
    if head.startswith(b"#ROSBAG V"):
        version = head[9:].split(b"\n", 1)[0].decode("ascii", "replace")
        raise UnknownBagFormatError(f"{p}: ROS 1 bag version {version} is not supported (only 2.0)")
    if head.startswith(MCAP_MAGIC):
        return BagFormat.MCAP
    if head.startswith(SQLITE_MAGIC):
        return BagFormat.ROS2_SQLITE3
    if head.startswith(ZSTD_MAGIC):
        raise UnknownBagFormatError(f"{p}: zstd-compressed file; decompress it first (e.g. zstd -d)")
    expected = {".bag": "ROS 1 bag", ".mcap": "MCAP file", ".db3": "rosbag2 sqlite3 file"}.get(p.suffix.lower())
    if expected:
        raise CorruptBagError(f"{p}: not a valid {expected} (unrecognised file header)")
    raise UnknownBagFormatError(f"{p}: unknown bag format (expected a ROS 1 .bag, .mcap, .db3 or rosbag2 directory)")


def _read_head(p: Path) -> bytes:
    try:
        with p.open("rb") as f:
            return f.read(16)
    except FileNotFoundError as exc:
        raise BagNotFoundError(f"{p}: no such file or directory") from exc
    except PermissionError:
        raise
    except OSError as exc:
        if exc.errno == errno.EACCES:
            raise PermissionError(str(p)) from exc
        raise BagError(f"{p}: cannot read ({exc.strerror or exc})") from exc


def _resolve_directory(d: Path) -> BagLayout:
    candidate = d / METADATA_YAML
    meta_path: Path | None = None
    metadata: dict[str, Any] = {}
    files: list[Path] = []
    if candidate.is_file():
        meta_path = candidate
        metadata = _load_metadata(meta_path)
        rel = metadata.get("relative_file_paths") or [f.get("path") for f in metadata.get("files") or []]
        files = [d / str(name) for name in rel if name]
        missing = [f.name for f in files if not f.exists()]
        if missing:
            # A copy that lost a split file is still worth indexing from what is there.
            files = [f for f in files if f.exists()]
        if not files:
            files = _storage_files(d)
    else:
        files = _storage_files(d)
    if not files:
        if any(f.name.endswith((".db3.zstd", ".mcap.zstd")) for f in d.iterdir()):
            raise UnknownBagFormatError(f"{d}: file-compressed rosbag2 storage (.zstd) is not supported; decompress it")
        raise UnknownBagFormatError(f"{d}: directory holds no rosbag2 storage files (.db3 or .mcap)")
    suffixes = {_storage_suffix(f) for f in files}
    if len(suffixes) != 1 or None in suffixes:
        raise UnknownBagFormatError(f"{d}: mixed or unknown storage files: {', '.join(sorted(f.name for f in files))}")
    fmt = _STORAGE_SUFFIXES[suffixes.pop() or ""]
    for f in files:
        sniffed = _sniff_file(f)
        if sniffed != fmt:
            raise CorruptBagError(f"{f}: content does not match its {f.suffix} extension")
    return BagLayout(path=d, format=fmt, files=files, metadata_yaml=meta_path, metadata=metadata)


def _storage_suffix(f: Path) -> str | None:
    suffix = f.suffix.lower()
    return suffix if suffix in _STORAGE_SUFFIXES else None


def _storage_files(d: Path) -> list[Path]:
    found = [f for f in d.iterdir() if f.is_file() and _storage_suffix(f)]
    return sorted(found, key=_split_order)


def _split_order(f: Path) -> tuple[str, int, str]:
    # rosbag2 names splits NAME_0.db3, NAME_1.db3, ... ; sort numerically, not lexically (NAME_10 after NAME_9).
    m = re.match(r"^(.*)_(\d+)$", f.stem)
    if m:
        return (m.group(1), int(m.group(2)), f.suffix)
    return (f.stem, -1, f.suffix)


def _load_metadata(meta_path: Path) -> dict[str, Any]:
    try:
        doc = load_yaml(meta_path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CorruptBagError(f"{meta_path}: metadata.yaml does not parse ({type(exc).__name__})") from exc
    info = doc.get("rosbag2_bagfile_information") if isinstance(doc, dict) else None
    if not isinstance(info, dict):
        raise CorruptBagError(f"{meta_path}: metadata.yaml has no rosbag2_bagfile_information")
    return info
