"""A run's hold on the data repo: one lock, a journal of what it is about to change, a staging area.

Every command that changes a data repo runs inside :func:`repo_run`. It takes
``.pitlane/lock`` (an ``flock``, so a killed holder releases it by dying; the
git and dvc children inherit the descriptor, so an orphaned child still holds
it), writes its PID there, and owns ``.pitlane/staging/<pid>/``: ``copy/`` for
staged bags and ``journal.jsonl``, where each change is recorded *before* it
is made. Whatever the run leaves uncommitted is undone when it ends, however
it ends: by itself when it returns or raises, by the next run when it was
killed (the PID left in the lock file says so, and staging folders found under
the lock are stale by definition). Undoing is idempotent, so a kill during a
recovery is recovered by the run after.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from toolkit import faults
from toolkit.data.sidecar import sidecar_path
from toolkit.errors import ConflictError, DataRepoError, PitlaneError
from toolkit.partials import is_stale, remove_stale_partials

CACHE_DIR = ".pitlane"  # the same name as toolkit.data.repo.CACHE_DIR; repo imports this module
LOCK_NAME = "lock"
STAGING_DIR = "staging"
JOURNAL_NAME = "journal.jsonl"
LOCK_WAIT_S = 30.0

# Descriptors of the locks this process holds: run_tool passes them to its children.
held_fds: list[int] = []


class RepoLike(Protocol):  # the part of DataRepo this module uses (DataRepo imports this module)
    root: Path

    def git(self, *args: str) -> str: ...

    def dvc(self, *args: str) -> str: ...

    def rebuild_catalog(self) -> int: ...


@dataclass
class Run:
    """This process's staging folder and journal inside one data repo."""

    repo: RepoLike
    dir: Path
    entries: list[dict[str, object]] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)  # what taking the lock undid of killed runs

    @property
    def copy_dir(self) -> Path:
        return self.dir / "copy"

    def record(self, kind: str, path: str, **extra: object) -> None:
        """Journal a change before making it: `bag` (an ingest, `copied` when its data came from staging)
        or `slice` (an output written by the bags part)."""
        entry: dict[str, object] = {"kind": kind, "path": path, **extra}
        with (self.dir / JOURNAL_NAME).open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, sort_keys=True) + "\n")
        self.entries.append(entry)


_runs: dict[Path, tuple[Run, int]] = {}  # reentrancy: slice -> add share one run


def _lock_path(root: Path) -> Path:
    return root / CACHE_DIR / LOCK_NAME


def _staging_root(root: Path) -> Path:
    return root / CACHE_DIR / STAGING_DIR


@contextlib.contextmanager
def repo_run(repo: RepoLike) -> Iterator[Run]:
    """Hold the repo for one command; see the module docstring."""
    root = repo.root
    if root in _runs:
        run, depth = _runs[root]
        _runs[root] = (run, depth + 1)
        try:
            yield run
        finally:
            _runs[root] = (run, depth)
        return
    fd, died = _acquire(root)
    held_fds.append(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        faults.point("lock.taken")
        recovered = recover(repo, catalog=died)
        run = Run(repo, _staging_root(root) / str(os.getpid()), recovered=recovered)
        run.dir.mkdir(parents=True, exist_ok=True)
        _runs[root] = (run, 1)
        try:
            yield run
        finally:
            del _runs[root]
            # Undo what this run left uncommitted (a failed bag, an exception), then drop its staging.
            with contextlib.suppress(PitlaneError, OSError):
                undo(repo, run.entries)
            shutil.rmtree(run.dir, ignore_errors=True)
            with contextlib.suppress(OSError):
                run.dir.parent.rmdir()  # only when empty: no trace of finished runs
            os.ftruncate(fd, 0)  # an empty lock file says its last holder ended (returned or raised) cleanly
    finally:
        held_fds.remove(fd)
        os.close(fd)


def _acquire(root: Path) -> tuple[int, bool]:
    """Lock `.pitlane/lock`; True when its last holder died holding it (it left its PID there)."""
    path = _lock_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise
            if time.monotonic() > deadline:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise ConflictError(f"another pitlane run (pid {holder}) is changing {root}; try again later") from None
            time.sleep(0.1)
    return fd, bool(os.pread(fd, 32, 0).strip())


def stale_staging(root: Path, keep: Path | None = None) -> list[Path]:
    """Staging folders of dead runs: all of them while nobody holds the lock, or before the holder makes its own
    (one named after our PID too: a killed run that had the same PID)."""
    base = _staging_root(root)
    if not base.is_dir():
        return []
    return sorted(d for d in base.iterdir() if d != keep)


def read_journal(folder: Path) -> list[dict[str, object]]:
    path = folder / JOURNAL_NAME
    if not path.exists():
        return []
    entries: list[dict[str, object]] = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # the line being written when the run was killed: its change never started
        if isinstance(entry, dict) and isinstance(entry.get("path"), str):
            entries.append(entry)
    return entries


def recover(repo: RepoLike, *, catalog: bool, keep: Path | None = None) -> list[str]:
    """Undo and remove every stale staging folder; after a death, also git's lock and the catalog cache.

    Returns one line per thing removed (for `pitlane data fsck`).
    """
    root = repo.root
    done: list[str] = []
    stale = stale_staging(root, keep)
    for folder in stale:
        faults.point("recover.staging")
        done.extend(undo(repo, read_journal(folder)))
        shutil.rmtree(folder, ignore_errors=True)
        faults.point("recover.staging_removed")
        done.append(f"removed stale staging {folder.relative_to(root).as_posix()}")
    if catalog or stale:
        index_lock = root / ".git" / "index.lock"
        if index_lock.exists():
            # Only a git child of the dead run can have left it: live ones would still hold our lock.
            index_lock.unlink(missing_ok=True)
            done.append("removed stale .git/index.lock")
        for tmp in dvc_cache_partials(root):
            tmp.unlink(missing_ok=True)
            done.append(f"removed unfinished DVC cache write {tmp.relative_to(root).as_posix()}")
        faults.point("recover.catalog")
        repo.rebuild_catalog()
        done.append("rebuilt the catalog from the sidecars")
    return done


def _committed(repo: RepoLike, rels: list[str]) -> set[str]:
    if not rels:
        return set()
    try:
        out = repo.git("ls-tree", "-r", "--name-only", "-z", "HEAD", "--", *rels)
    except PitlaneError:
        return set()  # no commit yet
    return {p for p in out.split("\0") if p}


def _remove(path: Path) -> bool:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
        return True
    if path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)
        return True
    return False


def undo(repo: RepoLike, entries: list[dict[str, object]]) -> list[str]:
    """Undo journaled changes whose sidecar is not committed: sidecar, `.dvc` file, index entries,
    and the data itself where it was copied or written by the run (never a user's own bag)."""
    root = repo.root
    rels = sorted({str(e["path"]) for e in entries})
    if not rels:
        return []
    sidecars = {rel: sidecar_path(Path(rel)).as_posix() for rel in rels}
    committed = _committed(repo, list(sidecars.values()))
    pending = [e for e in entries if sidecars[str(e["path"])] not in committed]
    if not pending:
        return []
    done: list[str] = []
    dvc_files: list[str] = []
    git_paths: list[str] = []
    for e in pending:
        rel = str(e["path"])
        bag = root / rel
        sc = sidecar_path(bag)
        signals = bag.parent / (bag.name + ".signals.parquet")  # derived series, written with the sidecar
        for p in (sc, sc.with_name(sc.name + ".tmp"), signals):
            p.unlink(missing_ok=True)
        dvc_file = bag.parent / (bag.name + ".dvc")
        if dvc_file.exists():
            dvc_files.append(f"{rel}.dvc")
        git_paths += [sidecars[rel], f"{rel}.dvc", f"{rel}.lineage.json", f"{rel}.signals.parquet"]
    for f in dvc_files:
        # What `dvc remove` does, without its second of start-up: the .dvc file and its .gitignore line go.
        (root / f).unlink(missing_ok=True)
    for e in pending:
        _unignore(root / str(e["path"]))
    with contextlib.suppress(PitlaneError):
        repo.git("reset", "-q", "--", *sorted(set(git_paths)))
    for e in pending:
        rel = str(e["path"])
        bag = root / rel
        if e.get("kind") == "slice":
            for p in (bag, *(bag.parent / (bag.name + s) for s in (".lineage.json", ".lineage.json.tmp"))):
                if _remove(p):
                    done.append(f"removed uncommitted slice output {rel}")
            remove_stale_partials(bag)
        elif e.get("copied") and _remove(bag):
            done.append(f"removed uncommitted copy {rel}")
            _prune_empty(bag.parent, stop={root, root / "bags"})
    return done


def _prune_empty(folder: Path, stop: set[Path]) -> None:
    """Remove folders the run created for a copy that is gone again (up to, not including, `stop`)."""
    while folder not in stop and root_contains(stop, folder):
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def root_contains(stops: set[Path], folder: Path) -> bool:
    return any(s in folder.parents for s in stops)


def _unignore(bag: Path) -> None:
    """Drop the `/NAME` line `dvc add` wrote for `bag` into its folder's .gitignore (the file too, once empty)."""
    gitignore = bag.parent / ".gitignore"
    try:
        lines = gitignore.read_text(encoding="utf-8").splitlines()
    except OSError:
        return
    kept = [ln for ln in lines if ln.strip() != f"/{bag.name}"]
    if kept == lines:
        return
    if any(ln.strip() for ln in kept):
        gitignore.write_text("\n".join(kept) + "\n", encoding="utf-8")
    else:
        gitignore.unlink(missing_ok=True)


def find_partials(root: Path) -> list[Path]:
    """Every `.NAME.partial-PID` in the working tree whose writer is dead."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in {".git", ".dvc", CACHE_DIR}]
        for name in [*dirnames, *filenames]:
            if is_stale(Path(dirpath) / name):
                found.append(Path(dirpath) / name)
    return sorted(found)


def dvc_cache_partials(root: Path) -> list[Path]:
    """`.NAME.tmp` files dvc writes in its cache before renaming; a killed or failed `dvc add` leaves them."""
    cache = root / ".dvc" / "cache"
    return sorted(p for p in cache.rglob(".*.tmp") if p.is_file()) if cache.is_dir() else []


def lock_holder(root: Path) -> tuple[int | None, bool]:
    """(PID written in the lock file, whether a live process holds the lock)."""
    path = _lock_path(root)
    if not path.exists():
        return None, False
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            held = False
        except OSError:
            held = True
    finally:
        os.close(fd)
    return (int(text) if text.isdigit() else None), held


def disk_error(exc: OSError, what: str) -> DataRepoError:
    """One line for a full or read-only filesystem (or any other OS error) while doing `what`."""
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        reason = "no space left on device"
    elif exc.errno == errno.EROFS:
        reason = "read-only file system"
    return DataRepoError(f"{what}: {reason}")
