"""The minutes a search matched: event rows for `event:` terms, series ranges for `speed` terms."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from pydantic import BaseModel
from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.engine import Connection

from toolkit.data.catalog import Catalog
from toolkit.data.catalog_events import events
from toolkit.data.compile import _match
from toolkit.data.events import runs
from toolkit.data.signalfile import read_series
from toolkit.errors import DataRepoError

MAX_HITS_PER_BAG = 1000


class EventHit(BaseModel):
    kind: str  # an event kind, or "speed" for the ranges of a speed term
    topic: str = ""
    detail: str = ""
    start_ns: int
    end_ns: int
    start: str | None  # ISO 8601, UTC
    end: str | None
    offset_s: float  # start, seconds after the bag start
    duration_s: float
    value: float


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat()


def hit(kind: str, start_ns: int, end_ns: int, value: float, bag_start: int | None, **kw: str) -> EventHit:
    # model_construct: the values come from the catalog's typed columns; validation would double the cost.
    return EventHit.model_construct(
        kind=kind,
        start_ns=start_ns,
        end_ns=end_ns,
        start=_iso(start_ns),
        end=_iso(end_ns),
        offset_s=round((start_ns - (start_ns if bag_start is None else bag_start)) / 1e9, 6),
        duration_s=round((end_ns - start_ns) / 1e9, 6),
        value=round(value, 6),
        topic=kw.get("topic", ""),
        detail=kw.get("detail", ""),
    )


def event_hits(
    conn: Connection, start_of: dict[str, int | None], terms: list[tuple[tuple[str, ...], tuple[str, ...]]]
) -> dict[str, list[EventHit]]:
    """Events of the result bags that any positive `event:` term names, in time order."""
    if not terms or not start_of:
        return {}
    conds: list[ColumnElement[bool]] = []
    for kinds, topic_patterns in terms:
        cond: ColumnElement[bool] = events.c.kind.in_(kinds)
        if topic_patterns:
            cond = and_(cond, or_(*(_match(events.c.topic, p) for p in topic_patterns)))
        conds.append(cond)
    out: dict[str, list[EventHit]] = {}
    cols = (events.c.bag_id, events.c.kind, events.c.topic, events.c.start_ns, events.c.end_ns, events.c.value)
    rows = conn.execute(
        select(*cols, events.c.detail)
        .where(events.c.bag_id.in_(list(start_of)), or_(*conds))
        .order_by(events.c.bag_id, events.c.start_ns, events.c.kind, events.c.topic)
    )
    for r in rows:
        got = out.setdefault(r.bag_id, [])
        if len(got) < MAX_HITS_PER_BAG:
            got.append(hit(r.kind, r.start_ns, r.end_ns, r.value, start_of[r.bag_id], topic=r.topic, detail=r.detail))
    return out


def _compare(v: np.ndarray, op: str, x: float) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        if op == ">":
            return v > x
        if op == ">=":
            return v >= x
        if op == "<":
            return v < x
        if op == "<=":
            return v <= x
        return np.abs(v - x) <= 0.5 / 3.6  # "=": within half a km/h


def speed_hits(
    catalog: Catalog, root: Path, start_of: dict[str, int | None], terms: list[tuple[str, float]]
) -> dict[str, list[EventHit]]:
    """Ranges of the series where every speed term holds (one sample period resolution)."""
    out: dict[str, list[EventHit]] = {}
    for bid, bag_start in start_of.items():
        sc = catalog.get(bid)
        if sc is None or sc.signals is None or not sc.signals.file:
            continue
        try:
            series = read_series(root / sc.signals.file)
        except (DataRepoError, FileNotFoundError):
            continue
        speed = series.columns["speed_mps"]
        mask = np.ones(len(speed), dtype=bool)
        for op, x in terms:
            mask &= _compare(speed, op, x)
        found = []
        for a, b in runs(mask)[:MAX_HITS_PER_BAG]:
            peak = float(np.nanmax(speed[a : b + 1]))
            found.append(hit("speed", int(series.t_ns[a]), int(series.t_ns[b]), peak, bag_start))
        if found:
            out[bid] = found
    return out
