"""Materialise a dataset reference for a process task: a local path, or ``path`` from a Git/DVC repo at ``rev``."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkit.errors import DatasetError
from toolkit.experiment import plan
from toolkit.experiment.spec import DatasetRef


@dataclass(frozen=True)
class Source:
    name: str
    ref: DatasetRef
    path: Path
    commit: str | None
    md5: str  # taken while the data is materialised: a fetched copy is gone after the task

    def record(self) -> dict[str, Any]:
        """What the run record needs to trace the data back: ref, resolved commit, content hash."""
        return {
            "name": self.name,
            "repo": self.ref.repo,
            "rev": self.ref.rev,
            "commit": self.commit,
            "path": self.ref.path,
            "md5": self.md5,
        }


def content_md5(path: Path) -> str:
    """md5 of a file, or of a directory's relative names and contents (sorted)."""
    digest = hashlib.md5()
    if not path.exists():
        raise DatasetError(f"{path}: no such file or directory to hash")
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode() + b"\0")
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def local_path(ref: DatasetRef, repo_root: Path) -> Path:
    return plan.local_path(ref.path, repo_root)


@contextmanager
def materialize(name: str, ref: DatasetRef, repo_root: Path) -> Iterator[Source]:
    """Yield the dataset as a local path; a remote one is fetched with DVC into a temp dir for the task."""
    if ref.repo is None:
        path = local_path(ref, repo_root)
        if not path.exists():
            raise DatasetError(f"dataset {name}: path {ref.path} does not exist")
        yield Source(name, ref, path, None, content_md5(path))
        return
    from dvc.api import DVCFileSystem

    try:
        fs = DVCFileSystem(url=ref.repo, rev=ref.rev)
        commit = fs.repo.get_rev()
        with tempfile.TemporaryDirectory(prefix=f"pitlane-{name}-") as tmp:
            target = Path(tmp) / Path(ref.path).name
            fs.get(ref.path, str(target), recursive=True)
            yield Source(name, ref, target, commit, content_md5(target))
    except DatasetError:
        raise
    except Exception as exc:
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise DatasetError(f"dataset {name}: cannot fetch {ref.path} from {ref.repo}@{ref.rev}: {first}") from None
