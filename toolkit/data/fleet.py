"""Fleet view: how many events the bags matching a query hold, per vehicle / route / day / any tag.

One GROUP BY over the catalog's event rows of the matching bags (no result limit): a team sees
where its data has what it needs. With event terms in the query only those events count
(a `topic:` beside a health event narrows it as in search); without, every event counts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, and_, func, or_, select

from toolkit.data.catalog import Catalog, bags, tags
from toolkit.data.catalog_events import events
from toolkit.data.compile import CompileContext, _match, compile_query
from toolkit.data.query import parse
from toolkit.errors import QueryError

DAY_NS = 86_400 * 1_000_000_000
UNSET = "(none)"


class FleetCount(BaseModel):
    group: str  # the tag value, or the UTC day (YYYY-MM-DD) of the event's start
    kind: str
    events: int
    bags: int
    hours: float  # total duration of the events, h


def event_counts(catalog: Catalog, query: str, by: str = "vehicle") -> list[FleetCount]:
    """Counts per (group, kind), largest first; `by` is `day` or a tag key (vehicle, route, driver, ...)."""
    if not by or not by.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise QueryError(f"--by {by!r}: use day or a tag key such as vehicle or route")
    node = parse(query)
    with catalog.engine.connect() as conn:
        ctx = CompileContext(conn=conn, fts=catalog.has_fts)
        where = compile_query(node, ctx)
        picked: list[ColumnElement[bool]] = []
        for kinds, topics in ctx.event_terms:
            cond: ColumnElement[bool] = events.c.kind.in_(kinds)
            if topics:
                cond = and_(cond, or_(*(_match(events.c.topic, p) for p in topics)))
            picked.append(cond)
        ev_where = or_(*picked) if picked else None
        if by == "day":
            key: ColumnElement[Any] = events.c.start_ns // DAY_NS
            stmt = select(key.label("g"), events.c.kind, func.count(), func.count(events.c.bag_id.distinct()))
            stmt = stmt.select_from(events.join(bags, bags.c.id == events.c.bag_id))
        else:
            key = func.coalesce(tags.c.value, UNSET)
            stmt = select(key.label("g"), events.c.kind, func.count(), func.count(events.c.bag_id.distinct()))
            stmt = stmt.select_from(
                events.join(bags, bags.c.id == events.c.bag_id).outerjoin(
                    tags, and_(tags.c.bag_id == bags.c.id, tags.c.key == by)
                )
            )
        stmt = stmt.add_columns(func.sum(events.c.end_ns - events.c.start_ns)).where(where)
        if ev_where is not None:
            stmt = stmt.where(ev_where)
        rows = conn.execute(stmt.group_by(key, events.c.kind)).all()
    out = []
    for g, kind, n, n_bags, total_ns in rows:
        group = datetime.fromtimestamp(int(g) * 86_400, tz=UTC).date().isoformat() if by == "day" else str(g)
        hours = round(float(total_ns or 0) / 3.6e12, 4)
        out.append(FleetCount(group=group, kind=kind, events=int(n), bags=int(n_bags), hours=hours))
    return sorted(out, key=lambda c: (-c.events, c.group, c.kind))
