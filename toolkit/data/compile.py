"""AST -> SQLAlchemy WHERE clause over the catalog tables. Values are bound parameters, always.

Every field handler checks its value and raises QueryError with the field's
syntax; unknown fields list the valid ones (built-ins plus the tag keys the
catalog holds).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    column,
    exists,
    false,
    func,
    literal_column,
    not_,
    or_,
    select,
    table,
    true,
)
from sqlalchemy.engine import Connection

from toolkit.data.catalog import FTS_TABLE, RTREE_TABLE, bags, tag_stats, tags, topic_stats, topics
from toolkit.data.catalog_events import event_stats, events, signals
from toolkit.data.events import HEALTH_KINDS, KINDS
from toolkit.data.query import And, Field, Node, Not, Or, Text
from toolkit.errors import QueryError

EARTH_M_PER_DEG = 111_320.0
_ORDER_OPS = {">", "<", ">=", "<=", "="}
_FORMATS = {"ros1": "ros1", "bag": "ros1", "ros2": "ros2", "db3": "ros2", "sqlite3": "ros2", "mcap": "mcap"}


@dataclass
class CompileContext:
    """What compiling needs from the catalog: known tag keys, topic/type names, the FTS index."""

    conn: Connection
    fts: bool = False  # SQLite trigram index over search_text (see catalog.FTS_TABLE)
    # Correlated EXISTS probes suit a scan in start-time order that stops at LIMIT;
    # IN (subquery) sets suit selective terms that drive the lookup. search() picks.
    correlated: bool = False
    # Index-driven plans: only set term number `driver` stays an IN set (the smallest, measured
    # in a first pass that fills `estimates`); the others become probes of its candidates.
    driver: int | None = None
    # Bag counts (stats tables) or, for free text and GNSS boxes, a count to run with a cap.
    estimates: list[int | Callable[[int], int]] | None = None
    _sets: int = 0
    negated: bool = False
    in_or: bool = False
    hints: list[str] = field(default_factory=list)  # terms that alone match no bag
    # `topic:` terms beside an `event:` term in one AND: they narrow health events to those topics.
    event_topics: tuple[str, ...] = ()
    # Positive event and speed terms, for listing the matching time ranges of each result.
    event_terms: list[tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=list)  # (kinds, topics)
    speed_terms: list[tuple[str, float]] = field(default_factory=list)  # (op, m/s)
    _tag_keys: set[str] | None = None

    @property
    def tag_keys(self) -> set[str]:
        if self._tag_keys is None:  # only queries with a non-built-in field pay for this
            self._tag_keys = {r[0] for r in self.conn.execute(select(tag_stats.c.key).distinct())}
        return self._tag_keys

    def names(self, col: ColumnElement[str], pattern: str) -> tuple[list[str], int]:
        """The distinct topic names (or types) a glob denotes, and about how many bags have one."""
        stats_col = topic_stats.c.name if col is topics.c.name else topic_stats.c.type
        found: dict[str, int] = {}
        for value, n in self.conn.execute(select(stats_col, topic_stats.c.bags).where(_match(stats_col, pattern))):
            found[value] = found.get(value, 0) + int(n)
        return sorted(found), sum(found.values())


def like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def glob_to_like(glob: str) -> str:
    """`/sensing/*/points` -> `/sensing/%/points` with LIKE's own wildcards escaped."""
    return like_escape(glob).replace("*", "%").replace("?", "_")


def _has_glob(text: str) -> bool:
    return "*" in text or "?" in text


def _match(col: ColumnElement[str], pattern: str) -> ColumnElement[bool]:
    if _has_glob(pattern):
        return col.like(glob_to_like(pattern), escape="\\")
    return col == pattern


def normalize_type(name: str) -> str:
    """ROS 1 `sensor_msgs/PointCloud2` -> ROS 2 `sensor_msgs/msg/PointCloud2`; ROS 2 spelling unchanged."""
    parts = name.strip("/").split("/")
    if len(parts) == 2:
        return f"{parts[0]}/msg/{parts[1]}"
    return name


_DURATION_UNITS = {"": 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_COUNT_UNITS = {"": 1, "k": 1_000, "m": 1_000_000}
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
}
_DIST_UNITS = {"": 1.0, "m": 1.0, "km": 1000.0}


def _number(value: str, units: dict[str, float] | dict[str, int], what: str, example: str) -> float:
    m = re.fullmatch(r"([0-9]*\.?[0-9]+)\s*([A-Za-z]*)", value.strip())
    if not m or m.group(2).lower() not in units:
        raise QueryError(f"{what}: {value!r} is not a number with a unit ({example})")
    return float(m.group(1)) * units[m.group(2).lower()]


def _compare(col: ColumnElement[float], op: str, value: float, tolerance: float = 0.0) -> ColumnElement[bool]:
    if op == ">":
        return col > value
    if op == "<":
        return col < value
    if op == ">=":
        return col >= value
    if op == "<=":
        return col <= value
    if tolerance:
        return and_(col > value - tolerance, col < value + tolerance)
    return col == value


def _need_order_op(f: Field, example: str) -> str:
    op = "=" if f.op == ":" else f.op
    if op not in _ORDER_OPS:
        raise QueryError(f"{f.name}{f.op}: use one of > < >= <= = (e.g. {example})")
    return op


def _need_colon(f: Field, example: str) -> None:
    if f.op not in {":", "="}:
        raise QueryError(f"{f.name} takes ':' (e.g. {example}), not {f.op!r}")


def parse_when(value: str) -> int:
    """An ISO date or date-time (UTC unless it says otherwise) as epoch nanoseconds."""
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise QueryError(f"{value!r} is not a date (use YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][+HH:MM])") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp()) * 1_000_000_000 + dt.microsecond * 1000


def _floats(value: str, n: int, what: str, example: str) -> list[str]:
    parts = [p.strip() for p in value.split(",")]
    if len(parts) != n:
        raise QueryError(f"{what}: expected {n} comma-separated values ({example})")
    return parts


def _lat_lon(lat_s: str, lon_s: str, what: str, example: str) -> tuple[float, float]:
    try:
        lat, lon = float(lat_s), float(lon_s)
    except ValueError:
        raise QueryError(f"{what}: latitude and longitude must be numbers ({example})") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise QueryError(f"{what}: latitude must be in [-90, 90] and longitude in [-180, 180]")
    return lat, lon


def _clamp(v: float, lo: ColumnElement[float], hi: ColumnElement[float]) -> ColumnElement[float]:
    # Portable min/max (SQLite has no GREATEST/LEAST): the point of [lo, hi] closest to v.
    return case((lo > v, lo), (hi < v, hi), else_=v)


def _has_gnss() -> ColumnElement[bool]:
    return bags.c.gnss_min_lat.is_not(None)


# --- field handlers ---------------------------------------------------------------
def _has_topic(kind: str, col: ColumnElement[str], pattern: str, ctx: CompileContext) -> ColumnElement[bool]:
    # Globs are resolved to exact names first: the bag lookup is then an index equality.
    names, estimate = ctx.names(col, pattern)
    if not names:
        if not ctx.negated:
            ctx.hints.append(f"no bag has {kind} {pattern}")
        return false()
    return _member(topics.c.bag_id, col.in_(names), ctx, estimate)


NEVER_DRIVES = 1 << 62
# Free-text words and GNSS boxes are counted only this far (or to the smallest known count, when
# less): enough to tell a selective word or box from a common one; counting further costs more.
FTS_ESTIMATE_CAP = 1_000


def _set_term(ctx: CompileContext, estimate: int | Callable[[int], int]) -> int:
    i = ctx._sets
    ctx._sets += 1
    if ctx.estimates is not None:
        # Only a term every match must satisfy can drive the lookup (not one under OR or NOT).
        drives = not ctx.negated and not ctx.in_or
        ctx.estimates.append(estimate if drives else NEVER_DRIVES)
    return i


def _member(
    bag_col: ColumnElement[str], cond: ColumnElement[bool], ctx: CompileContext, estimate: int
) -> ColumnElement[bool]:
    sub = select(bag_col).where(cond)
    i = _set_term(ctx, estimate)
    if ctx.correlated or (ctx.driver is not None and i != ctx.driver):
        return exists().where(bag_col == bags.c.id, cond)
    return bags.c.id.in_(sub)


def _topic(f: Field, ctx: CompileContext) -> ColumnElement[bool]:
    _need_colon(f, "topic:/sensing/lidar/*")
    return _has_topic("topic", topics.c.name, f.value, ctx)


def _type(f: Field, ctx: CompileContext) -> ColumnElement[bool]:
    _need_colon(f, "type:sensor_msgs/msg/PointCloud2")
    return _has_topic("type", topics.c.type, normalize_type(f.value), ctx)


def _duration(f: Field, ctx: CompileContext) -> ColumnElement[bool]:
    op = _need_order_op(f, "duration>60, duration<=5m")
    seconds = _number(f.value, _DURATION_UNITS, "duration", "60, 90s, 5m, 1.5h")
    return and_(bags.c.start_ns.is_not(None), _compare(bags.c.duration_s, op, seconds, tolerance=0.5))


def _messages(f: Field, ctx: CompileContext) -> ColumnElement[bool]:
    op = _need_order_op(f, "messages>1000, messages<2k")
    count = _number(f.value, _COUNT_UNITS, "messages", "1000, 2k, 1M")
    return _compare(bags.c.message_count, op, count)


def _size(f: Field, ctx: CompileContext) -> ColumnElement[bool]:
    op = _need_order_op(f, "size>1GB")
    n = _number(f.value, _SIZE_UNITS, "size", "500MB, 2GiB, 1024")
    return _compare(bags.c.size_bytes, op, n)


def _after(f: Field, ctx: CompileContext) -> ColumnElement[bool]:
    _need_colon(f, "after:2025-01-01")
    return bags.c.start_ns >= parse_when(f.value)


def _before(f: Field, ctx: CompileContext) -> ColumnElement[bool]:
    _need_colon(f, "before:2025-01-01")
    return bags.c.start_ns < parse_when(f.value)


def _format(f: Field, ctx: CompileContext) -> ColumnElement[bool]:
    _need_colon(f, "format:mcap")
    fmt = _FORMATS.get(f.value.lower())
    if fmt is None:
        raise QueryError(f"format: {f.value!r} is not one of ros1, ros2, mcap")
    return bags.c.format == fmt


def _compression(f: Field, ctx: CompileContext) -> ColumnElement[bool]:
    _need_colon(f, "compression:lz4")
    return bags.c.compression == f.value.lower()


def _path(f: Field, ctx: CompileContext) -> ColumnElement[bool]:
    _need_colon(f, "path:bags/2025/*")
    return _match(bags.c.path, f.value)


def _id(f: Field, ctx: CompileContext) -> ColumnElement[bool]:
    _need_colon(f, "id:3fa2c1")
    return bags.c.id.like(like_escape(f.value.lower()) + "%", escape="\\")


def _tag_match(key: str, value: str | None, ctx: CompileContext) -> ColumnElement[bool]:
    cond = tags.c.key == key
    stats = select(func.coalesce(func.sum(tag_stats.c.bags), 0)).where(tag_stats.c.key == key)
    if value is not None:
        cond = and_(cond, _match(tags.c.value, value))
        stats = stats.where(_match(tag_stats.c.value, value))
    estimate = int(ctx.conn.execute(stats).scalar_one()) if ctx.estimates is not None else 0
    return _member(tags.c.bag_id, cond, ctx, estimate)


def _tag(f: Field, ctx: CompileContext) -> ColumnElement[bool]:
    _need_colon(f, "tag:weather=rain, tag:weather")
    key, sep, value = f.value.partition("=")
    if not key:
        raise QueryError("tag: needs a key (tag:weather=rain, or tag:weather for any value)")
    return _tag_match(key, value if sep else None, ctx)


def _vehicle(f: Field, ctx: CompileContext) -> ColumnElement[bool]:
    _need_colon(f, "vehicle:odaiba-3")
    return _tag_match("vehicle", f.value, ctx)


def _near(f: Field, ctx: CompileContext) -> ColumnElement[bool]:
    example = "near:35.62,139.77,500m"
    _need_colon(f, example)
    lat_s, lon_s, radius_s = _floats(f.value, 3, "near", example)
    lat, lon = _lat_lon(lat_s, lon_s, "near", example)
    radius = _number(radius_s, _DIST_UNITS, "near radius", "500m, 2km")
    # Distance from the point to the bag's GNSS bounding box, equirectangular (good to
    # well under 1% at the radii that make sense for a drive), compared squared.
    kx = EARTH_M_PER_DEG * math.cos(math.radians(lat))
    dy = (_clamp(lat, bags.c.gnss_min_lat, bags.c.gnss_max_lat) - lat) * EARTH_M_PER_DEG
    dx = (_clamp(lon, bags.c.gnss_min_lon, bags.c.gnss_max_lon) - lon) * kx
    # Cheap box prefilter first so the index on the bbox columns can cut rows.
    dlat = radius / EARTH_M_PER_DEG
    dlon = radius / max(kx, 1e-9)
    box = _box(lat - dlat, lat + dlat, lon - dlon, lon + dlon, ctx)
    return and_(box, dy * dy + dx * dx <= radius * radius)


def _bbox(f: Field, ctx: CompileContext) -> ColumnElement[bool]:
    example = "bbox:35.60,139.70,35.65,139.80"
    _need_colon(f, example)
    a_lat, a_lon, b_lat, b_lon = _floats(f.value, 4, "bbox", example)
    lat1, lon1 = _lat_lon(a_lat, a_lon, "bbox", example)
    lat2, lon2 = _lat_lon(b_lat, b_lon, "bbox", example)
    lo_lat, hi_lat = sorted((lat1, lat2))
    lo_lon, hi_lon = sorted((lon1, lon2))
    return _box(lo_lat, hi_lat, lo_lon, hi_lon, ctx)


_rtree = table(RTREE_TABLE, column("id"), column("min_lat"), column("max_lat"), column("min_lon"), column("max_lon"))


def _box(lo_lat: float, hi_lat: float, lo_lon: float, hi_lon: float, ctx: CompileContext) -> ColumnElement[bool]:
    """The bag's GNSS bounding box intersects the query box."""
    exact = and_(
        _has_gnss(),
        bags.c.gnss_max_lat >= lo_lat,
        bags.c.gnss_min_lat <= hi_lat,
        bags.c.gnss_max_lon >= lo_lon,
        bags.c.gnss_min_lon <= hi_lon,
    )
    if not ctx.fts:
        return exact
    # SQLite's R*Tree finds intersecting boxes without a scan; worth it when this term drives.
    sub = select(_rtree.c.id).where(
        _rtree.c.max_lat >= lo_lat, _rtree.c.min_lat <= hi_lat, _rtree.c.max_lon >= lo_lon, _rtree.c.min_lon <= hi_lon
    )
    i = _set_term(ctx, lambda cap: _capped_count(sub, ctx, cap))
    if ctx.driver == i and not ctx.correlated:
        return and_(_BAG_ROWID.in_(sub), exact)
    return exact


def _event(f: Field, ctx: CompileContext) -> ColumnElement[bool]:
    _need_colon(f, "event:hard_brake")
    kinds = tuple(k for k in KINDS if fnmatchcase(k, f.value.lower()))
    if not kinds:
        raise QueryError(f"event: unknown kind {f.value!r}; kinds: {', '.join(KINDS)}")
    cond: ColumnElement[bool] = events.c.kind.in_(kinds)
    stats = select(func.coalesce(func.sum(event_stats.c.bags), 0)).where(event_stats.c.kind.in_(kinds))
    health = [k for k in kinds if k in HEALTH_KINDS]
    if ctx.event_topics and health:
        # Health events belong to a topic: a `topic:` term beside this one picks whose. Globs are
        # resolved to the exact names in the stats first, so the probes compare equalities.
        named = or_(*(_match(event_stats.c.topic, p) for p in ctx.event_topics))
        found = ctx.conn.execute(select(event_stats.c.topic).where(event_stats.c.kind.in_(health), named))
        names = sorted({r[0] for r in found})
        cond = and_(cond, or_(events.c.kind.not_in(health), events.c.topic.in_(names)))
        stats = stats.where(or_(event_stats.c.kind.not_in(health), event_stats.c.topic.in_(names)))
    estimate = int(ctx.conn.execute(stats).scalar_one())
    if not ctx.negated:
        if estimate == 0:
            where = f" on {' or '.join(ctx.event_topics)}" if ctx.event_topics and health else ""
            ctx.hints.append(f"no bag has event {f.value}{where}")
        ctx.event_terms.append((kinds, ctx.event_topics if health else ()))
    return _member(events.c.bag_id, cond, ctx, estimate)


_SPEED_UNITS = {"kmh": 1 / 3.6, "kph": 1 / 3.6, "mph": 0.44704, "mps": 1.0}


def _speed(f: Field, ctx: CompileContext) -> ColumnElement[bool]:
    op = _need_order_op(f, "speed>50kmh")
    mps = _number(f.value, _SPEED_UNITS, "speed", "50kmh, 30mph, 12mps")
    # Bag level: the bag's speed range reaches the value; the minutes come from its series.
    if op in {">", ">="}:
        cond = _compare(signals.c.max_speed_mps, op, mps)
    elif op in {"<", "<="}:
        cond = _compare(signals.c.min_speed_mps, op, mps)
    else:
        cond = and_(signals.c.max_speed_mps >= mps, signals.c.min_speed_mps <= mps)
    if not ctx.negated:
        ctx.speed_terms.append((op, mps))
    sub = select(signals.c.bag_id).where(cond)
    i = _set_term(ctx, lambda cap: _capped_count(sub, ctx, cap))
    if ctx.correlated or (ctx.driver is not None and i != ctx.driver):
        return exists().where(signals.c.bag_id == bags.c.id, cond)
    return bags.c.id.in_(sub)


FIELDS: dict[str, Callable[[Field, CompileContext], ColumnElement[bool]]] = {
    "topic": _topic,
    "type": _type,
    "duration": _duration,
    "messages": _messages,
    "size": _size,
    "after": _after,
    "before": _before,
    "format": _format,
    "compression": _compression,
    "path": _path,
    "id": _id,
    "tag": _tag,
    "vehicle": _vehicle,
    "near": _near,
    "bbox": _bbox,
    "event": _event,
    "speed": _speed,
}


_fts = table(FTS_TABLE, column("rowid"), column("body"))
_BAG_ROWID: ColumnElement[int] = literal_column(f"{bags.name}.rowid")


def _capped_count(sub: Select[Any], ctx: CompileContext, cap: int) -> int:
    """How many rows `sub` has, counting no further than `cap` (a result of `cap` means "at least")."""
    return int(ctx.conn.execute(select(func.count()).select_from(sub.limit(cap).subquery())).scalar_one())


def _text(t: Text, ctx: CompileContext) -> ColumnElement[bool]:
    needle = t.text.lower()
    like = bags.c.search_text.like("%" + like_escape(needle) + "%", escape="\\")
    if not ctx.fts or len(needle) < 3:
        return like
    # A trigram phrase query is a substring match served by the FTS index: worth it when this
    # term drives the lookup; checking candidates found otherwise is cheaper with LIKE.
    phrase = '"' + needle.replace('"', '""') + '"'
    sub = select(_fts.c.rowid).where(_fts.c.body.op("MATCH")(phrase))

    i = _set_term(ctx, lambda cap: _capped_count(sub, ctx, cap))
    return _BAG_ROWID.in_(sub) if ctx.driver == i and not ctx.correlated else like


# Probe order under AND (the result is the same in any order; SQLite checks terms as written):
# column comparisons first, then single index probes (tags, text), then topic/type probes
# (one per name a glob denotes), then compound terms.
_COLUMN_FIELDS = {
    "duration",
    "messages",
    "size",
    "after",
    "before",
    "format",
    "compression",
    "path",
    "id",
    "near",
    "bbox",
}


def _probe_rank(node: Node) -> int:
    if isinstance(node, Field):
        return 0 if node.name in _COLUMN_FIELDS else 2 if node.name in {"topic", "type"} else 1
    return 1 if isinstance(node, Text) else 3


def compile_node(node: Node, ctx: CompileContext) -> ColumnElement[bool]:
    if isinstance(node, And):
        beside = tuple(n.value for n in node.items if isinstance(n, Field) and n.name == "topic")
        was_topics, ctx.event_topics = ctx.event_topics, beside or ctx.event_topics
        try:
            return and_(*(compile_node(n, ctx) for n in sorted(node.items, key=_probe_rank)))
        finally:
            ctx.event_topics = was_topics
    if isinstance(node, Or):
        was_or, ctx.in_or = ctx.in_or, True
        try:
            return or_(*(compile_node(n, ctx) for n in node.items))
        finally:
            ctx.in_or = was_or
    if isinstance(node, Not):
        # Hints under NOT would explain nothing: a missing topic makes NOT true.
        was, ctx.negated = ctx.negated, not ctx.negated
        try:
            return not_(compile_node(node.item, ctx))
        finally:
            ctx.negated = was
    if isinstance(node, Text):
        return _text(node, ctx)
    handler = FIELDS.get(node.name)
    if handler is not None:
        return handler(node, ctx)
    if node.name in ctx.tag_keys:
        _need_colon(node, f"{node.name}:VALUE")
        return _tag_match(node.name, node.value, ctx)
    known = sorted(FIELDS)
    keys = sorted(ctx.tag_keys - set(FIELDS))
    hint = f"; tag keys: {', '.join(keys)}" if keys else ""
    raise QueryError(f"unknown field {node.name!r}; valid fields: {', '.join(known)}{hint}")


def compile_query(node: Node | None, ctx: CompileContext) -> ColumnElement[bool]:
    return true() if node is None else compile_node(node, ctx)
