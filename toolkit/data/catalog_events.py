"""Catalog tables for events and derived signals (on the catalog's own MetaData).

`catalog_events` holds one row per event; `catalog_event_stats` counts bags per
(kind, topic) like the topic and tag stats, so search can judge how selective an
event term is; `catalog_signals` holds each bag's speed range for `speed>` terms.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
)
from sqlalchemy.engine import Connection

from toolkit.data.catalog import CATALOG_METADATA
from toolkit.data.sidecar import Sidecar

events = Table(
    "catalog_events",
    CATALOG_METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("bag_id", String(64), ForeignKey("catalog_bags.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("topic", Text, nullable=False, default=""),
    Column("start_ns", BigInteger, nullable=False),
    Column("end_ns", BigInteger, nullable=False),
    Column("value", Float, nullable=False),
    Column("detail", String(64), nullable=False, default=""),
)
Index("ix_catalog_events_kind", events.c.kind, events.c.bag_id)
Index("ix_catalog_events_bag", events.c.bag_id, events.c.kind)

event_stats = Table(
    "catalog_event_stats",
    CATALOG_METADATA,
    Column("kind", String(32), primary_key=True),
    Column("topic", String(512), primary_key=True),
    Column("bags", BigInteger, nullable=False),
)

signals = Table(
    "catalog_signals",
    CATALOG_METADATA,
    Column("bag_id", String(64), ForeignKey("catalog_bags.id", ondelete="CASCADE"), primary_key=True),
    Column("max_speed_mps", Float, nullable=True, index=True),
    Column("min_speed_mps", Float, nullable=True, index=True),
)


def event_keys(sc: Sidecar) -> set[tuple[str, str]]:
    return {(ev.kind, ev.topic) for ev in sc.events}


def insert_rows(conn: Connection, items: list[Sidecar]) -> Counter[tuple[str, str]]:
    """Event and signal rows of these sidecars; returns the bag-count delta for event_stats."""
    rows = [
        {
            "bag_id": sc.id,
            "kind": ev.kind,
            "topic": ev.topic,
            "start_ns": ev.start_ns,
            "end_ns": ev.end_ns,
            "value": ev.value,
            "detail": ev.detail,
        }
        for sc in items
        for ev in sc.events
    ]
    if rows:
        conn.execute(insert(events), rows)
    sig = [
        {"bag_id": sc.id, "max_speed_mps": sc.signals.max_speed_mps, "min_speed_mps": sc.signals.min_speed_mps}
        for sc in items
        if sc.signals is not None and sc.signals.max_speed_mps is not None
    ]
    if sig:
        conn.execute(insert(signals), sig)
    delta: Counter[tuple[str, str]] = Counter()
    for sc in items:
        delta.update(event_keys(sc))
    return delta


def delete_rows(conn: Connection, ids: list[str]) -> Counter[tuple[str, str]]:
    """Drop the event and signal rows of these bags; returns the (negative) event_stats delta."""
    delta: Counter[tuple[str, str]] = Counter()
    found = conn.execute(select(events.c.bag_id, events.c.kind, events.c.topic).where(events.c.bag_id.in_(ids)))
    for key in {(b, k, t) for b, k, t in found}:
        delta[(key[1], key[2])] -= 1
    conn.execute(delete(events).where(events.c.bag_id.in_(ids)))
    conn.execute(delete(signals).where(signals.c.bag_id.in_(ids)))
    return delta
