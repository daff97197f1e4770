"""`pitlane data add/rm/tag`: index bags in parallel, `dvc add` them in one call, commit sidecars.

All-or-nothing per bag: a bag gets its sidecar, `.dvc` file and catalog rows
only after it indexed cleanly and `dvc add` took it; a bad bag is reported
with one line and the rest of the batch goes on.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from toolkit import faults
from toolkit.bags.summary import BagSummary
from toolkit.config import get_settings
from toolkit.cpus import usable_cpus
from toolkit.data.derive import attach
from toolkit.data.discover import find_bags
from toolkit.data.events import EventsConfig, load_config
from toolkit.data.journal import Run, disk_error, dvc_cache_partials, repo_run
from toolkit.data.repo import BAGS_DIR, DataRepo
from toolkit.data.sidecar import Sidecar, bag_id, read_sidecar, sidecar_path, write_sidecar
from toolkit.data.signalfile import signals_path
from toolkit.errors import DataRepoError, ExternalToolError, NotFoundError, PitlaneError, UserError

ProgressFn = Callable[[int, int, str], None]  # (done, total, path just finished)

TAG_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


@dataclass
class AddReport:
    added: list[Sidecar] = field(default_factory=list)
    already: list[tuple[str, str]] = field(default_factory=list)  # (given path, catalogued path)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (given path, one-line reason)
    commit: str | None = None


def index_bag(path: str) -> BagSummary:
    """The bags part's index with content hashes (the hashes give idempotency)."""
    from toolkit.bags import index

    return index(Path(path), hashes=True)


def _index_job(path: str) -> tuple[str, BagSummary | None, str | None]:
    # Runs in a worker process: every failure becomes one line, never an exception across the pool.
    try:
        return path, index_bag(path), None
    except PitlaneError as exc:
        return path, None, str(exc) or type(exc).__name__
    except Exception as exc:  # a reader library choking on a damaged file is a bad bag, not a crash
        return path, None, f"cannot read bag ({type(exc).__name__}: {exc})".splitlines()[0]


POOL_MIN_BYTES = 64 << 20


def _total_bytes(paths: Sequence[str]) -> int:
    total = 0
    for p in map(Path, paths):
        try:
            total += p.stat().st_size if p.is_file() else sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
        except OSError:
            continue  # the index reports the unreadable path
        if total >= POOL_MIN_BYTES:
            break
    return total


def _workers(requested: int) -> int:
    n = requested or get_settings().workers or usable_cpus()
    return max(1, n)


def index_many(
    paths: Sequence[str], workers: int = 0, progress: ProgressFn | None = None
) -> list[tuple[str, BagSummary | None, str | None]]:
    """Index `paths` with a process pool; results keep input order.

    Small batches run in-process: starting workers (each imports the readers) costs more
    than indexing and hashing a few MiB (measured in bench/search.py).
    """
    n = min(_workers(workers), len(paths))
    results: dict[str, tuple[str, BagSummary | None, str | None]] = {}
    if n <= 1 or _total_bytes(paths) < POOL_MIN_BYTES:
        for i, p in enumerate(paths, 1):
            results[p] = _index_job(p)
            if progress:
                progress(i, len(paths), p)
    else:
        # Chunks amortize the per-task IPC, which rivals the indexing time of a small bag.
        chunk = max(1, min(32, len(paths) // (n * 8)))
        with ProcessPoolExecutor(max_workers=n) as pool:
            for i, res in enumerate(pool.map(_index_job, paths, chunksize=chunk), 1):
                results[res[0]] = res
                if progress:
                    progress(i, len(paths), res[0])
    return [results[p] for p in paths]


def _content_sha256(summary: BagSummary, bag: Path) -> str:
    if summary.sha256:
        return summary.sha256
    # The index skipped hashing: hash the storage files in order, like the index would.
    h = hashlib.sha256()
    files = [Path(f) for f in summary.files] or ([bag] if bag.is_file() else sorted(bag.iterdir()))
    for f in files:
        with (f if f.is_absolute() else bag.parent / f).open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _stage(src: Path, dest: Path) -> Path:
    """Copy one bag into this run's staging area (same filesystem as `bags/`: accepted bags move by rename)."""
    if dest.exists() or dest.is_symlink():
        raise DataRepoError(f"{src}: another source in this batch is also named {dest.name}; rename one")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        if src.is_dir():
            shutil.copytree(src, dest, copy_function=_copy_file)
        else:
            _copy_file(src, dest)
    except OSError as exc:
        _discard(dest)
        raise disk_error(exc, f"{src}: cannot copy into the repo") from None
    except shutil.Error as exc:  # copytree gathers per-file errors as (src, dst, reason)
        _discard(dest)
        first = exc.args[0][0] if exc.args and isinstance(exc.args[0], list) and exc.args[0] else (src, dest, exc)
        reason = str(first[2])
        reason = "no space left on device" if "No space left" in reason else reason.splitlines()[0][:200]
        raise DataRepoError(f"{src}: cannot copy into the repo: {reason}") from None
    return dest


def _copy_file(src: str | Path, dst: str | Path) -> object:
    faults.point("add.copy_file")
    return shutil.copy2(src, dst)


def _discard(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _final_path(repo: DataRepo, run: Run, bag: Path) -> Path:
    """Where a bag found in staging lands: `bags/` + its path below the staging copy folder."""
    try:
        return repo.root / BAGS_DIR / bag.relative_to(run.copy_dir)
    except ValueError:
        return bag


def _source_of(staged: Path, sources: dict[Path, Path]) -> str:
    return str(sources.get(staged, staged))


def _move_in(staged: Path, final: Path) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staged, final)


def _summary_at(summary: BagSummary, staged: Path, final: Path) -> BagSummary:
    """The index of a staged bag, its storage file paths moved to where the bag lands."""
    if staged == final:
        return summary
    files: list[str] = []
    for f in summary.files:
        fp = Path(f)
        try:
            files.append(str(final / fp.relative_to(staged)) if fp != staged else str(final))
        except ValueError:
            files.append(f)
    return summary.model_copy(update={"files": files, "path": str(final)})


def _relative_summary(summary: BagSummary, repo: DataRepo, bag: Path) -> BagSummary:
    rel = repo.rel(bag)
    files: list[str] = []
    for f in summary.files:
        fp = Path(f)
        files.append(repo.rel(fp) if fp.is_absolute() and repo.is_inside(fp) else f)
    return summary.model_copy(update={"path": rel, "files": files})


def _dvc_add(repo: DataRepo, targets: list[Path]) -> dict[Path, str]:
    """`dvc add` all targets in one call; on failure retry one by one to find the bad ones."""
    if not targets:
        return {}
    try:
        repo.dvc("add", *[repo.rel(t) for t in targets])  # not --quiet: that hides dvc's ERROR line too
        return {}
    except ExternalToolError:
        _sweep_dvc_tmp(repo)
    failed: dict[Path, str] = {}
    for t in targets:
        try:
            repo.dvc("add", repo.rel(t))
        except ExternalToolError as exc:
            _sweep_dvc_tmp(repo)
            failed[t] = str(exc)
            dvc_file = t.parent / (t.name + ".dvc")
            dvc_file.unlink(missing_ok=True)
    return failed


def _sweep_dvc_tmp(repo: DataRepo) -> None:
    # A failed copy into the cache (a full disk) leaves dvc's half-written temp file there.
    for tmp in dvc_cache_partials(repo.root):
        tmp.unlink(missing_ok=True)


def _git_paths_for(bag: Path) -> list[Path]:
    # The slice lineage and the user's own `<bag>.pitlane.yaml` tags travel with the bag when present.
    extras = [bag.parent / (bag.name + s) for s in (".lineage.json", ".pitlane.yaml")]
    return [
        sidecar_path(bag),
        signals_path(bag),
        bag.parent / (bag.name + ".dvc"),
        bag.parent / ".gitignore",
        *extras,
    ]


def commit_paths(repo: DataRepo, paths: list[Path], message: str) -> str | None:
    """Stage and commit exactly `paths` (present ones added, vanished tracked ones removed)."""
    present = sorted({repo.rel(p) for p in paths if p.exists()})
    absent = sorted({repo.rel(p) for p in paths if not p.exists()})
    tracked_absent = repo.git("ls-files", "-z", "--", *absent).split("\0") if absent else []
    removed = sorted(p for p in tracked_absent if p)
    if present:
        repo.git("add", "--", *present)
    if removed:
        repo.git("rm", "-q", "--cached", "--ignore-unmatch", "--", *removed)
    every = present + removed
    if not every or not repo.git("status", "--porcelain", "--", *every).strip():
        return None
    repo.git("commit", "-q", "-m", message, "--", *every)
    return repo.git("rev-parse", "HEAD").strip()


def add_bags(
    repo: DataRepo,
    paths: Sequence[Path],
    *,
    copy: bool = False,
    tags: dict[str, str] | None = None,
    workers: int = 0,
    progress: ProgressFn | None = None,
    lineage: dict[str, dict[str, object]] | None = None,
    signals: bool = True,
    events_config: EventsConfig | None = None,
) -> AddReport:
    """Ingest bags: (stage) -> index -> dedupe by content -> (move in) -> one `dvc add` -> sidecars -> one commit
    -> catalog. Each change is journaled first, so a failure or a kill leaves nothing half-added."""
    user_tags = validate_tags(tags or {})
    with repo_run(repo) as run:
        return _add_in_run(repo, run, paths, copy, user_tags, workers, progress, lineage, signals, events_config)


def _add_in_run(
    repo: DataRepo,
    run: Run,
    paths: Sequence[Path],
    copy: bool,
    user_tags: dict[str, str],
    workers: int,
    progress: ProgressFn | None,
    lineage: dict[str, dict[str, object]] | None,
    signals: bool = True,
    events_config: EventsConfig | None = None,
) -> AddReport:
    report = AddReport()
    candidates: list[Path] = []
    sources: dict[Path, Path] = {}  # staged copy -> the source it came from, to name bags as the user knows them
    for given in paths:
        if not given.exists():
            report.failed.append((str(given), "no such file or directory"))
            continue
        try:
            if repo.is_inside(given):
                repo.rel(given)
            elif not copy:
                repo.rel(given)  # raises the "outside the data repo" error
        except DataRepoError as exc:
            report.failed.append((str(given), str(exc)))
            continue
        if repo.is_inside(given):
            candidates.extend(find_bags([given]))
            continue
        # Classify at the source, copy each bag on its own: one that does not fit fails alone.
        for found in find_bags([given]):
            inner = Path(given.name) / found.relative_to(given) if found != given else Path(given.name)
            try:
                staged = _stage(found, run.copy_dir / inner)
            except DataRepoError as exc:
                report.failed.append((str(found), str(exc)))
                continue
            sources[staged] = found
            candidates.append(staged)
            faults.point("add.staged")

    indexed = index_many([str(p) for p in candidates], workers=workers, progress=progress)
    faults.point("add.indexed")
    catalog = repo.catalog
    to_add: list[tuple[Path, Path, Sidecar]] = []  # (where it lies now, where it is tracked, sidecar)
    seen_sha: dict[str, str] = {}
    now = datetime.now(UTC).isoformat(timespec="seconds")
    for path_s, summary, err in indexed:
        here = Path(path_s)
        bag = _final_path(repo, run, here)
        shown = _source_of(here, sources)
        if summary is None:
            report.failed.append((shown, (err or "cannot read bag").replace(path_s, shown)))
            continue
        sha = _content_sha256(summary, here)
        rel = repo.rel(bag)
        existing = catalog.find_by_sha256(sha)
        if existing is not None:
            report.already.append((shown, existing.path))
            continue
        if sha in seen_sha:
            report.already.append((shown, seen_sha[sha]))
            continue
        if bag != here and (bag.exists() or bag.is_symlink()):
            report.failed.append((shown, f"{rel} already exists in the repo with other content; rename the source"))
            continue
        seen_sha[sha] = rel
        summary = _relative_summary(_summary_at(summary.model_copy(update={"sha256": sha}), here, bag), repo, bag)
        old = sidecar_path(bag)
        keep_tags, keep_notes = ({}, "")
        if old.exists():  # the bag changed in place: keep what users wrote about it
            prev = read_sidecar(old)
            keep_tags, keep_notes = prev.tags, prev.notes
        sc = Sidecar(
            id=bag_id(sha),
            path=rel,
            summary=summary,
            tags={**keep_tags, **user_tags},
            notes=keep_notes,
            lineage=(lineage or {}).get(rel),
            ingested_at=now,
        )
        to_add.append((here, bag, sc))

    for here, bag, sc in to_add:
        if not sidecar_path(bag).exists():  # a bag changed in place keeps its committed sidecar's history
            run.record("bag", sc.path, copied=here != bag)
        if here != bag:
            try:
                _move_in(here, bag)
            except OSError as exc:
                raise disk_error(exc, f"{sc.path}: cannot move into {BAGS_DIR}/") from None
            faults.point("add.moved")
    if signals and to_add:
        cfg = events_config or load_config(repo.root)
        to_add = [(here, bag, attach(repo, bag, sc, cfg)) for here, bag, sc in to_add]
    failed_dvc = _dvc_add(repo, [bag for _, bag, _ in to_add])
    for bag in failed_dvc:
        signals_path(bag).unlink(missing_ok=True)
    ok = [(bag, sc) for _, bag, sc in to_add if bag not in failed_dvc]
    report.failed.extend((repo.rel(bag), reason) for bag, reason in failed_dvc.items())
    if not ok:
        return report  # the end of the run undoes the moves of bags dvc refused
    try:
        for bag, sc in ok:
            write_sidecar(sidecar_path(bag), sc)
            faults.point("add.sidecar")
    except OSError as exc:
        raise disk_error(exc, "cannot write sidecars") from None
    git_paths = [p for bag, _ in ok for p in _git_paths_for(bag)]
    report.commit = commit_paths(repo, git_paths, _add_message(ok))
    faults.point("add.committed")
    catalog.upsert(sc for _, sc in ok)
    faults.point("add.catalogued")
    report.added = [sc for _, sc in ok]
    return report


def _add_message(items: list[tuple[Path, Sidecar]]) -> str:
    if len(items) == 1:
        return f"data: add {items[0][1].path}"
    lines = "\n".join(f"- {sc.path}" for _, sc in items)
    return f"data: add {len(items)} bags\n\n{lines}\n"


# --- resolving, removing, tagging --------------------------------------------
def resolve_bag(repo: DataRepo, ref: str) -> Sidecar:
    """A catalogued bag by path (relative to cwd or to the repo) or by id prefix."""
    for candidate in (Path(ref), repo.root / ref):
        sc_file = sidecar_path(Path(str(candidate).rstrip("/")))
        if sc_file.exists() and repo.is_inside(sc_file):
            return read_sidecar(sc_file)
    if re.fullmatch(r"[0-9a-f]{4,64}", ref):
        matches = [sc for sc in repo.catalog.all_sidecars() if sc.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise UserError(f"bag id prefix {ref!r} is ambiguous ({len(matches)} bags)")
    raise NotFoundError(f"no catalogued bag {ref!r} (give its path or id; see `pitlane data search`)")


def remove_bags(repo: DataRepo, refs: Sequence[str], *, keep_file: bool = False) -> list[Sidecar]:
    """Stop tracking bags: `dvc remove` their .dvc files, delete sidecars, commit, drop catalog rows."""
    with repo_run(repo):
        return _remove_in_run(repo, refs, keep_file)


def _remove_in_run(repo: DataRepo, refs: Sequence[str], keep_file: bool) -> list[Sidecar]:
    sidecars = [resolve_bag(repo, r) for r in refs]  # all resolve before anything changes
    # A rerun after a kill finds some .dvc files already gone: remove what is left.
    dvc_files = [repo.rel(f) for sc in sidecars if (f := repo.abs_path(sc.path + ".dvc")).exists()]
    if dvc_files:
        repo.dvc("remove", *([] if keep_file else ["--outs"]), *dvc_files)
    paths: list[Path] = []
    for sc in sidecars:
        bag = repo.abs_path(sc.path)
        sidecar_path(bag).unlink(missing_ok=True)
        signals_path(bag).unlink(missing_ok=True)
        paths.extend(_git_paths_for(bag))
    names = ", ".join(sc.path for sc in sidecars)
    commit_paths(repo, paths, f"data: remove {names}")
    repo.catalog.remove(sc.id for sc in sidecars)
    return sidecars


def parse_tag_args(args: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep:
            raise UserError(f"tag {arg!r} is not key=value")
        out[key.strip()] = value.strip()
    return validate_tags(out)


def validate_tags(tags: dict[str, str]) -> dict[str, str]:
    for key, value in tags.items():
        if not TAG_KEY.match(key):
            raise UserError(f"tag key {key!r} must start with a letter and hold only letters, digits, _ . -")
        if "\n" in value:
            raise UserError(f"tag {key!r}: value must be one line")
    return tags


def tag_bag(repo: DataRepo, ref: str, set_tags: dict[str, str], remove: Sequence[str] = ()) -> Sidecar:
    with repo_run(repo):
        return _tag_in_run(repo, ref, set_tags, remove)


def _tag_in_run(repo: DataRepo, ref: str, set_tags: dict[str, str], remove: Sequence[str]) -> Sidecar:
    sc = resolve_bag(repo, ref)
    validate_tags(set_tags)
    missing = [k for k in remove if k not in sc.tags]
    if missing:
        raise NotFoundError(f"{sc.path} has no user tag {missing[0]!r}")
    new_tags = {k: v for k, v in {**sc.tags, **set_tags}.items() if k not in remove}
    updated = sc.model_copy(update={"tags": dict(sorted(new_tags.items()))})
    bag = repo.abs_path(sc.path)
    write_sidecar(sidecar_path(bag), updated)
    changes = [f"{k}={v}" for k, v in set_tags.items()] + [f"-{k}" for k in remove]
    commit_paths(repo, [sidecar_path(bag)], f"data: tag {sc.path} {' '.join(changes)}")
    repo.catalog.upsert([updated])
    return updated


def reindex(repo: DataRepo) -> int:
    """Rebuild the catalog from the sidecars alone."""
    return repo.catalog.rebuild(repo.sidecars())


def push(repo: DataRepo) -> None:
    """Upload every tracked bag to the default DVC remote (the sidecars travel with `git push`)."""
    repo.dvc("push", "--quiet")


def pull(repo: DataRepo, refs: Sequence[str] = ()) -> list[str]:
    """Fetch bags from the DVC remote into the working tree: all of them, or the given ones."""
    targets = [resolve_bag(repo, r).path + ".dvc" for r in refs]
    repo.dvc("pull", "--quiet", *targets)
    return targets
