"""Run a search query against the catalog: parse -> compile -> one SELECT (+ one for topics and tags)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Row, Select, and_, select
from sqlalchemy.engine import Connection

from toolkit.data.catalog import Catalog, bag_count, bags, tags, topics
from toolkit.data.compile import FTS_ESTIMATE_CAP, NEVER_DRIVES, CompileContext, compile_query
from toolkit.data.eventhits import EventHit, event_hits, speed_hits
from toolkit.data.query import Node, parse
from toolkit.errors import QueryError

DEFAULT_LIMIT = 50
RECENT_WINDOW = 4000  # bags probed newest-first before switching to index-driven lookup
COUNT_CAP = 10_000  # capped counts stop here even when every counted term is commoner


def _iso(ns: int | None) -> str | None:
    return None if ns is None else datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat()


class SearchResult(BaseModel):
    id: str
    path: str
    format: str
    start: str | None  # ISO 8601, UTC
    end: str | None
    duration_s: float
    messages: int
    size_bytes: int
    topics: list[str]
    tags: dict[str, str]
    events: list[EventHit] = Field(default_factory=list)  # the minutes that event/speed terms matched


class SearchResponse(BaseModel):
    query: str
    results: list[SearchResult] = Field(default_factory=list)
    hints: list[str] = Field(default_factory=list)  # why nothing matched, when a term alone matches nothing


def _select(where: ColumnElement[bool], limit: int) -> Select[Any]:
    return (
        select(
            bags.c.id,
            bags.c.path,
            bags.c.format,
            bags.c.start_ns,
            bags.c.end_ns,
            bags.c.duration_s,
            bags.c.message_count,
            bags.c.size_bytes,
        )
        .where(where)
        .order_by(bags.c.start_ns.desc().nulls_last(), bags.c.path)
        .limit(limit)
    )


def _resolve(estimates: list[int | Callable[[int], int]], total: int, limit: int, window: int) -> list[int]:
    """Bag counts per set term: stats counts as they are; capped counts (free text, GNSS boxes)
    after them, counting only as far as the smallest count known so far: past it, the term
    cannot drive and is reported as one more than it."""
    out = [min(e, total) if isinstance(e, int) and e != NEVER_DRIVES else NEVER_DRIVES for e in estimates]
    known = [e for e in out if e != NEVER_DRIVES]
    best = min(known, default=None)
    # With nothing counted yet, count to where a term alone would fill the newest-first window.
    fills = limit * total // window + 1
    for i, e in enumerate(estimates):
        if callable(e):
            cap = min(best, COUNT_CAP) if best is not None else max(fills, FTS_ESTIMATE_CAP)
            n = e(cap + 1)
            if n <= cap:
                best = n if best is None else min(best, n)
            elif best is not None:
                n = max(n, best + 1)
            out[i] = n
    return out


def _matching_rows(conn: Connection, node: Node | None, fts: bool, limit: int) -> tuple[list[Row[Any]], CompileContext]:
    """The newest `limit` matches, in two steps so that neither common nor rare terms scan everything.

    1. Among the newest RECENT_WINDOW bags, with correlated probes: a scan in start
       order that stops at LIMIT. Enough matches there are the global answer,
       since every bag outside the window is older.
    2. Otherwise the terms are selective: the smallest set term (topics, tags, free text;
       sizes measured with a capped count) drives through its index, the others probe.

    Step 1 is skipped when the set terms together (taken as independent) are expected to
    match fewer than `limit` of the window's bags.
    """
    window = max(RECENT_WINDOW, limit)
    probe = CompileContext(conn=conn, fts=fts, estimates=[])
    where = compile_query(node, probe)
    total = bag_count(conn)
    estimates = _resolve(probe.estimates or [], total, limit, window)
    driver = min(range(len(estimates)), key=lambda i: estimates[i], default=None)
    if driver is not None and estimates[driver] == NEVER_DRIVES:
        driver = None
    expected = float(window)
    for e in estimates:
        if e != NEVER_DRIVES:
            expected *= e / max(total, 1)
    rare = driver is not None and expected < limit
    edge = None
    if (not rare and total > window) or not estimates:
        edge = conn.execute(
            select(bags.c.start_ns)
            .where(bags.c.start_ns.is_not(None))
            .order_by(bags.c.start_ns.desc())
            .offset(window - 1)
            .limit(1)
        ).scalar()
    if edge is not None:
        ctx = CompileContext(conn=conn, fts=fts, correlated=True)
        rows = list(conn.execute(_select(and_(compile_query(node, ctx), bags.c.start_ns >= edge), limit)).all())
        if len(rows) == limit:
            return rows, ctx
    if driver is None:  # no set terms: the planner's own indexes are the best it gets
        return list(conn.execute(_select(where, limit)).all()), probe
    ctx = CompileContext(conn=conn, fts=fts, driver=driver)
    return list(conn.execute(_select(compile_query(node, ctx), limit)).all()), ctx


def search(catalog: Catalog, query: str, limit: int = DEFAULT_LIMIT, root: Path | None = None) -> SearchResponse:
    """Newest matches first. `root` (the data repo) lets speed terms list their minutes from the series."""
    if limit < 1:
        raise QueryError("--limit must be at least 1")
    node = parse(query)
    with catalog.engine.connect() as conn:
        rows, ctx = _matching_rows(conn, node, catalog.has_fts, limit)
        ids = [r.id for r in rows]
        topic_names: dict[str, list[str]] = defaultdict(list)
        tag_map: dict[str, dict[str, str]] = defaultdict(dict)
        if ids:
            for bid, name in conn.execute(
                select(topics.c.bag_id, topics.c.name).where(topics.c.bag_id.in_(ids)).order_by(topics.c.name)
            ):
                topic_names[bid].append(name)
            for bid, key, value in conn.execute(
                select(tags.c.bag_id, tags.c.key, tags.c.value).where(tags.c.bag_id.in_(ids)).order_by(tags.c.key)
            ):
                tag_map[bid][key] = value
        hints = ctx.hints if not rows else []
        start_of = {r.id: r.start_ns for r in rows}
        hits = event_hits(conn, start_of, ctx.event_terms)
    if root is not None and ctx.speed_terms:
        for bid, found in speed_hits(catalog, root, start_of, ctx.speed_terms).items():
            hits[bid] = sorted([*hits.get(bid, []), *found], key=lambda h: (h.start_ns, h.kind))
    results = [
        SearchResult(
            id=r.id,
            path=r.path,
            format=r.format,
            start=_iso(r.start_ns),
            end=_iso(r.end_ns),
            duration_s=round(r.duration_s, 6),
            messages=r.message_count,
            size_bytes=r.size_bytes,
            topics=topic_names[r.id],
            tags=tag_map[r.id],
            events=hits.get(r.id, []),
        )
        for r in rows
    ]
    return SearchResponse(query=query, results=results, hints=hints)
