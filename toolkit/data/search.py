"""Run a search query against the catalog: parse -> compile -> one SELECT (+ one for topics and tags)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from pydantic import BaseModel, Field
from sqlalchemy import select

from toolkit.data.catalog import Catalog, bags, tags, topics
from toolkit.data.compile import CompileContext, compile_query
from toolkit.data.query import parse
from toolkit.errors import QueryError

DEFAULT_LIMIT = 50


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


class SearchResponse(BaseModel):
    query: str
    results: list[SearchResult] = Field(default_factory=list)
    hints: list[str] = Field(default_factory=list)  # why nothing matched, when a term alone matches nothing


def search(catalog: Catalog, query: str, limit: int = DEFAULT_LIMIT) -> SearchResponse:
    if limit < 1:
        raise QueryError("--limit must be at least 1")
    node = parse(query)
    with catalog.engine.connect() as conn:
        ctx = CompileContext(conn=conn, fts=catalog.has_fts)
        where = compile_query(node, ctx)
        stmt = (
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
        rows = conn.execute(stmt).all()
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
        )
        for r in rows
    ]
    return SearchResponse(query=query, results=results, hints=hints)
