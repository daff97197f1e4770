"""Slices inside the data repo: the bags part cuts the bag; this module tracks it (dvc add + sidecar + lineage).

The lineage record is the bags part's `<out>.lineage.json`, committed next to
the slice and copied into the slice's sidecar, so `pitlane data lineage` can
walk slice -> source -> ... through the catalog without opening bags.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from toolkit import faults
from toolkit.bags.timebounds import parse_time_bound
from toolkit.data.eventhits import EventHit
from toolkit.data.ingest import add_bags, resolve_bag
from toolkit.data.journal import Run, disk_error, repo_run
from toolkit.data.repo import DataRepo
from toolkit.data.search import search
from toolkit.data.sidecar import Sidecar
from toolkit.errors import ConflictError, DataRepoError, NotFoundError
from toolkit.partials import remove_stale_partials

_EXT = {"ros1": ".bag", "mcap": ".mcap", "ros2": ""}


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def slice_catalogued(
    repo: DataRepo,
    ref: str,
    out: Path,
    *,
    start: str | int | None = None,
    end: str | int | None = None,
    topics: list[str] | None = None,
    fmt: str | None = None,
    split_bytes: int | None = None,
) -> Sidecar:
    """Slice a catalogued bag into `out` (inside the repo), then track and commit the slice.

    Rerunning the same slice returns the catalogued one; a run killed before its commit is undone by the next.
    """
    with repo_run(repo) as run:
        return _slice_in_run(repo, run, ref, out, start, end, topics, fmt, split_bytes)


def _slice_in_run(
    repo: DataRepo,
    run: Run,
    ref: str,
    out: Path,
    start: str | int | None,
    end: str | int | None,
    topics: list[str] | None,
    fmt: str | None,
    split_bytes: int | None,
) -> Sidecar:
    from toolkit.bags.slice import slice_bag

    src_sc = resolve_bag(repo, ref)
    src = repo.abs_path(src_sc.path)
    if not src.exists():
        raise NotFoundError(f"{src_sc.path} is not in the working tree; run `dvc pull {src_sc.path}.dvc` first")
    out = out if out.is_absolute() else Path.cwd() / out
    rel = repo.rel(out)  # refuses a slice outside the repo before any work
    request = {
        "source_id": src_sc.id,
        "start": start,
        "end": end,
        "topics": topics or None,
        "format": fmt,
        "split_bytes": split_bytes,
    }
    remove_stale_partials(out)
    if out.exists():
        done = repo.catalog.find_by_path(rel)
        if done is not None and (done.lineage or {}).get("request") == request:
            return done  # the same slice, made by an earlier run of this command
        raise ConflictError(f"{out} already exists")
    made_dir = not out.parent.exists()
    out.parent.mkdir(parents=True, exist_ok=True)
    run.record("slice", rel)
    faults.point("slice.journaled")
    try:
        result = slice_bag(
            src,
            out,
            start=start,
            end=end,
            topics=topics or None,
            fmt=fmt,
            source_md5=src_sc.summary.md5 or None,
            split_bytes=split_bytes,
        )
    except OSError as exc:
        _cleanup_dir(out, made_dir)
        raise disk_error(exc, f"slice of {src_sc.path} into {rel}") from None
    except BaseException:
        if made_dir and not any(out.parent.iterdir()):
            out.parent.rmdir()
        raise
    lineage_file = Path(result.lineage)
    lineage = _read_json(lineage_file)
    lineage.setdefault("source_id", src_sc.id)
    lineage.setdefault("source_path", src_sc.path)
    if isinstance(lineage.get("source"), dict):
        # Lineage is portable (DESIGN): the source is named by its repo path, never this clone's absolute path.
        lineage["source"]["path"] = src_sc.path
        _write_json(lineage_file, {k: v for k, v in lineage.items() if k not in ("source_id", "source_path")})
    lineage["request"] = request
    faults.point("slice.written")
    report = add_bags(repo, [out], lineage={repo.rel(out): lineage})
    if report.added:
        return report.added[0]
    # Nothing partial: a slice that cannot be tracked is removed with its lineage file.
    _remove(out)
    lineage_file.unlink(missing_ok=True)
    if report.already:
        raise ConflictError(f"this slice is identical to the catalogued bag {report.already[0][1]}")
    reason = report.failed[0][1] if report.failed else "unknown error"
    raise DataRepoError(f"slice of {src_sc.path} could not be added: {reason}")


def slice_search(
    repo: DataRepo,
    query: str,
    out_dir: Path,
    *,
    start: str | None = None,
    end: str | None = None,
    topics: list[str] | None = None,
    fmt: str | None = None,
    limit: int = 1000,
    split_bytes: int | None = None,
    pad: str | None = None,
) -> list[Sidecar]:
    """Slice every bag the query matches into `out_dir` (one slice per bag, named after its source).

    When the query has event or speed terms, each matched time range (widened by `pad` on both
    sides, clamped to the bag; overlapping ranges of one bag merged) becomes its own slice,
    `<bag>.<kind>-<n>.slice<ext>`, and `start`/`end` are not used.
    """
    results = search(repo.catalog, query, limit=limit, root=repo.root).results
    if not results:
        raise NotFoundError(f"no bag matches {query!r}")
    out_dir = out_dir if out_dir.is_absolute() else Path.cwd() / out_dir
    repo.rel(out_dir)
    made: list[Sidecar] = []
    by_event = any(r.events for r in results)
    if pad is not None and not by_event:
        raise DataRepoError("--pad needs a query with event or speed terms (e.g. 'event:hard_brake')")
    pad_ns = parse_time_bound("+" + pad.strip().lstrip("+"), 0) if pad else 0
    for r in results:
        src = Path(r.path)
        target_fmt = fmt or r.format
        stem = src.name.removesuffix(src.suffix) if src.suffix in {".bag", ".mcap", ".db3"} else src.name
        if by_event:
            sc = repo.catalog.get(r.id)
            lo, hi = (sc.summary.start_ns, sc.summary.end_ns) if sc is not None else (None, None)
            for n, (kind, a, b) in enumerate(event_windows(r.events, pad_ns, lo, hi), 1):
                name = f"{stem}.{kind}-{n:03d}.slice{_EXT.get(target_fmt, '')}"
                made.append(
                    slice_catalogued(
                        repo, r.id, out_dir / name, start=a, end=b, topics=topics, fmt=fmt, split_bytes=split_bytes
                    )
                )
            continue
        made.append(
            slice_catalogued(
                repo,
                r.id,
                out_dir / f"{stem}.slice{_EXT.get(target_fmt, '')}",
                start=start,
                end=end,
                topics=topics,
                fmt=fmt,
                split_bytes=split_bytes,
            )
        )
    return made


def event_windows(hits: list[EventHit], pad_ns: int, lo: int | None, hi: int | None) -> list[tuple[str, int, int]]:
    """(kind of the first event, start, end) per window: events widened by `pad_ns`, clamped, overlaps merged."""
    out: list[tuple[str, int, int]] = []
    for h in sorted(hits, key=lambda h: (h.start_ns, h.end_ns)):
        a, b = h.start_ns - pad_ns, h.end_ns + pad_ns
        if lo is not None:
            a = max(a, lo)
        if hi is not None:
            b = min(b, hi)
        if out and a <= out[-1][2]:
            out[-1] = (out[-1][0], out[-1][1], max(out[-1][2], b))
        else:
            out.append((h.kind, a, b))
    return out


def _cleanup_dir(out: Path, made_dir: bool) -> None:
    remove_stale_partials(out)
    if made_dir and out.parent.exists() and not any(out.parent.iterdir()):
        out.parent.rmdir()


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataRepoError(f"{path}: unreadable lineage ({exc})") from None
    return data if isinstance(data, dict) else {}


def lineage_chain(repo: DataRepo, ref: str) -> list[dict[str, Any]]:
    """[the slice, its source, the source's source, ...] as plain dicts, newest first."""
    sc = resolve_bag(repo, ref)
    chain: list[dict[str, Any]] = []
    seen: set[str] = set()
    current: Sidecar | None = sc
    while current is not None and current.id not in seen:
        seen.add(current.id)
        lin = current.lineage or {}
        chain.append(
            {
                "id": current.id,
                "path": current.path,
                "md5": current.summary.md5,
                "start": _first(lin, "start", "start_ns"),
                "end": _first(lin, "end", "end_ns"),
                "topics": lin.get("topics"),
                "lineage": current.lineage,
            }
        )
        current = _source_of(repo, lin) if lin else None
    return chain


def _first(d: dict[str, Any], *keys: str) -> Any:
    return next((d[k] for k in keys if d.get(k) is not None), None)


def _source_of(repo: DataRepo, lineage: dict[str, Any]) -> Sidecar | None:
    catalog = repo.catalog
    if sid := lineage.get("source_id"):
        found = catalog.get(str(sid))
        if found is not None:
            return found
    source = lineage.get("source")
    md5 = lineage.get("source_md5") or (source.get("md5") if isinstance(source, dict) else None)
    if md5:
        for cand in catalog.all_sidecars():
            if cand.summary.md5 == md5:
                return cand
    return None
