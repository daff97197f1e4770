"""`pitlane data fsck`: list (and with --fix remove) what killed runs left in a data repo.

Every command already cleans the leftovers in the places it touches; this
looks everywhere: stale staging folders and the lock of a dead run, `.NAME.partial-PID`
work folders of slices whose writer is dead, half-written sidecars, git's
`index.lock` left by a killed commit, and a catalog that disagrees with the sidecars.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.data.journal import (
    CACHE_DIR,
    dvc_cache_partials,
    find_partials,
    lock_holder,
    recover,
    repo_run,
    stale_staging,
)
from toolkit.data.repo import DataRepo
from toolkit.errors import ConflictError


@dataclass
class FsckReport:
    found: list[str] = field(default_factory=list)  # one line per leftover
    fixed: list[str] = field(default_factory=list)  # one line per removal (with --fix)


def _half_sidecars(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.pitlane.json.tmp") if CACHE_DIR not in p.relative_to(root).parts[:1])


def fsck(repo: DataRepo, *, fix: bool = False) -> FsckReport:
    root = repo.root
    pid, held = lock_holder(root)
    if held:
        raise ConflictError(f"a pitlane run (pid {pid or '?'}) is changing {root} now; run fsck when it has ended")
    report = FsckReport()
    if pid is not None:
        report.found.append(f"lock of a killed run (pid {pid}): .pitlane/lock")
    for folder in stale_staging(root):
        report.found.append(f"stale staging folder: {folder.relative_to(root).as_posix()}")
    partials = find_partials(root)
    report.found += [f"unfinished slice: {p.relative_to(root).as_posix()}" for p in partials]
    halves = _half_sidecars(root)
    report.found += [f"half-written sidecar: {p.relative_to(root).as_posix()}" for p in halves]
    dvc_tmp = dvc_cache_partials(root)
    report.found += [f"unfinished DVC cache write: {p.relative_to(root).as_posix()}" for p in dvc_tmp]
    index_lock = root / ".git" / "index.lock"
    if index_lock.exists():
        report.found.append("git index lock: .git/index.lock (a killed git commit, or a git command running now)")
    sidecars = len(repo.sidecar_files())
    catalogued = repo.catalog.stats().bags
    if sidecars != catalogued:
        report.found.append(f"catalog out of date: {catalogued} bags catalogued, {sidecars} sidecars")
    if not fix or not report.found:
        return report
    with repo_run(repo) as run:
        # Taking the lock recovers a dead holder's work; the second pass rebuilds the catalog in any case.
        report.fixed += run.recovered
        report.fixed += [line for line in recover(repo, catalog=True, keep=run.dir) if line not in report.fixed]
        for p in find_partials(root):
            _remove_tree(p)
            report.fixed.append(f"removed {p.relative_to(root).as_posix()}")
        for p in _half_sidecars(root):
            p.unlink(missing_ok=True)
            report.fixed.append(f"removed {p.relative_to(root).as_posix()}")
    if pid is not None:
        report.fixed.append("released the lock of the killed run")
    return report


def _remove_tree(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)
