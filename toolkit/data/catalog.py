"""The bag catalog: SQLAlchemy tables (bags, topics, tags) and the one class that writes them.

The tables live in their own ``MetaData`` so the registry can create them in its
database next to its own tables (``CATALOG_METADATA.create_all(engine)``). In
embedded mode they live in ``<repo>/.pitlane/catalog.db``. The catalog is a
cache of the sidecars: ``Catalog.rebuild`` reproduces it from them.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import BindParameter

from toolkit.bags.summary import BagSummary
from toolkit.data.sidecar import Sidecar

CATALOG_METADATA = MetaData()

bags = Table(
    "catalog_bags",
    CATALOG_METADATA,
    Column("id", String(64), primary_key=True),  # sha256 prefix of the content
    Column("path", Text, nullable=False, unique=True),  # relative to the data repo, POSIX
    Column("format", String(16), nullable=False, index=True),
    Column("size_bytes", BigInteger, nullable=False),
    Column("md5", String(32), nullable=False, default=""),
    Column("sha256", String(64), nullable=False, index=True),
    Column("start_ns", BigInteger, nullable=True, index=True),
    Column("end_ns", BigInteger, nullable=True),
    Column("duration_s", Float, nullable=False, default=0.0, index=True),
    Column("message_count", BigInteger, nullable=False, default=0, index=True),
    Column("compression", String(16), nullable=False, default="none"),
    Column("indexed_by", String(16), nullable=False, default="index"),
    Column("notes", Text, nullable=False, default=""),
    Column("gnss_min_lat", Float, nullable=True),
    Column("gnss_min_lon", Float, nullable=True),
    Column("gnss_max_lat", Float, nullable=True),
    Column("gnss_max_lon", Float, nullable=True),
    # Lower-cased path, file names, tags and notes: what free-text words match.
    Column("search_text", Text, nullable=False, default=""),
)
# PostgreSQL only: SQLite has the R*Tree (RTREE_TABLE), and there this index only misleads the
# planner into range scans + sorts where the newest-first scan of start_ns stops after a page.
Index(
    "ix_catalog_bags_gnss", bags.c.gnss_min_lat, bags.c.gnss_max_lat, bags.c.gnss_min_lon, bags.c.gnss_max_lon
).ddl_if(dialect="postgresql")

# The whole sidecar JSON (pages need no file access), apart so that scans of `bags` stay narrow.
sidecar_bodies = Table(
    "catalog_sidecars",
    CATALOG_METADATA,
    Column("bag_id", String(64), ForeignKey("catalog_bags.id", ondelete="CASCADE"), primary_key=True),
    Column("body", Text, nullable=False),
)

topics = Table(
    "catalog_topics",
    CATALOG_METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("bag_id", String(64), ForeignKey("catalog_bags.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("count", BigInteger, nullable=False, default=0),
    Column("frequency_hz", Float, nullable=True),
)
Index("ix_catalog_topics_name", topics.c.name, topics.c.bag_id)
Index("ix_catalog_topics_type", topics.c.type, topics.c.bag_id)

tags = Table(
    "catalog_tags",
    CATALOG_METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("bag_id", String(64), ForeignKey("catalog_bags.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("key", String(128), nullable=False),
    Column("value", Text, nullable=False),
)
Index("ix_catalog_tags_kv", tags.c.key, tags.c.value, tags.c.bag_id)


# How many bags have each topic (name, type) and each tag (key, value): tiny tables that let
# search resolve globs and judge how selective a term is without touching the big ones.
topic_stats = Table(
    "catalog_topic_stats",
    CATALOG_METADATA,
    Column("name", String(512), primary_key=True),
    Column("type", String(256), primary_key=True),
    Column("bags", BigInteger, nullable=False),
)
Index("ix_catalog_topic_stats_type", topic_stats.c.type)

tag_stats = Table(
    "catalog_tag_stats",
    CATALOG_METADATA,
    Column("key", String(128), primary_key=True),
    Column("value", String(512), primary_key=True),
    Column("bags", BigInteger, nullable=False),
)


# One row: how many bags the catalog holds, kept by upsert/remove so that search plans need no
# COUNT(*) over the bags table.
catalog_meta = Table(
    "catalog_meta",
    CATALOG_METADATA,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("bags", BigInteger, nullable=False),
)


def search_text(sidecar: Sidecar) -> str:
    s = sidecar.summary
    parts = [sidecar.path, *s.files, *(f"{k}={v}" for k, v in sidecar.all_tags().items()), s.notes, sidecar.notes]
    return "\n".join(p for p in parts if p).lower()


def bag_row(sidecar: Sidecar) -> dict[str, object]:
    s: BagSummary = sidecar.summary
    bbox = s.gnss.bbox if s.gnss else (None, None, None, None)
    return {
        "id": sidecar.id,
        "path": sidecar.path,
        "format": s.format.value,
        "size_bytes": s.size_bytes,
        "md5": s.md5,
        "sha256": s.sha256,
        "start_ns": s.start_ns,
        "end_ns": s.end_ns,
        "duration_s": s.duration_s,
        "message_count": s.message_count,
        "compression": s.compression,
        "indexed_by": s.indexed_by,
        "notes": sidecar.notes or s.notes,
        "gnss_min_lat": bbox[0],
        "gnss_min_lon": bbox[1],
        "gnss_max_lat": bbox[2],
        "gnss_max_lon": bbox[3],
        "search_text": search_text(sidecar),
    }


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
    cur.execute("PRAGMA foreign_keys=ON")
    # LIKE as in PostgreSQL (case-sensitive globs on topics/tags), and prefix LIKEs can use the indexes.
    cur.execute("PRAGMA case_sensitive_like=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str) -> Engine:
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _bump(
    conn: Connection, table: Table, keys: tuple[Column[str], Column[str]], delta: Counter[tuple[str, str]]
) -> None:
    """Add `delta` to the per-key bag counts of a stats table; rows that reach zero go."""
    changed = [k for k, d in delta.items() if d]
    for start in range(0, len(changed), 400):  # bounded IN lists
        part = changed[start : start + 400]
        match = tuple_(*keys).in_(part)
        current = {(a, b): n for a, b, n in conn.execute(select(*keys, table.c.bags).where(match))}
        conn.execute(delete(table).where(match))
        rows = [
            {keys[0].name: a, keys[1].name: b, "bags": current.get((a, b), 0) + delta[(a, b)]}
            for a, b in part
            if current.get((a, b), 0) + delta[(a, b)] > 0
        ]
        if rows:
            conn.execute(insert(table), rows)


def _count_bags(conn: Connection, delta: int) -> None:
    if delta:
        conn.execute(update(catalog_meta).values(bags=catalog_meta.c.bags + delta))


def bag_count(conn: Connection) -> int:
    """How many bags the catalog holds (kept up to date by writes: no scan)."""
    return int(conn.execute(select(catalog_meta.c.bags)).scalar() or 0)


def _sidecar_of() -> Select[Any]:
    return select(sidecar_bodies.c.body).join(bags, bags.c.id == sidecar_bodies.c.bag_id)


@dataclass(frozen=True)
class CatalogStats:
    bags: int
    topics: int
    tags: int


# SQLite only: a trigram full-text index over search_text, so free-text substrings of 3+
# characters are index lookups instead of a LIKE scan (PostgreSQL uses LIKE; pg_trgm could
# back it the same way). Contentless (the text is in catalog_bags.search_text) and keyed by the
# bags table's rowid, so a match is a rowid set with no lookups of its own.
FTS_TABLE = "catalog_text"
# Bumped whenever the tables change: an embedded catalog with another version is rebuilt from
# the sidecars (it is a cache), recorded in SQLite's user_version.
CATALOG_VERSION = 6  # 6: events and signals tables
# SQLite only, like FTS: an R*Tree over GNSS bounding boxes keyed by the bags table's rowid.
RTREE_TABLE = "catalog_gnss"
_RTREE_DDL = f"CREATE VIRTUAL TABLE IF NOT EXISTS {RTREE_TABLE} USING rtree(id, min_lat, max_lat, min_lon, max_lon)"
_FTS_DDL = f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5(body, content='', tokenize='trigram')"
_IDS: BindParameter[list[str]] = bindparam("ids", expanding=True)


class Catalog:
    """Reads and writes the catalog tables through one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.has_fts = engine.dialect.name == "sqlite"
        CATALOG_METADATA.create_all(engine)
        if self.has_fts:
            with engine.begin() as conn:
                conn.exec_driver_sql(_FTS_DDL)
                conn.exec_driver_sql(_RTREE_DDL)
                if not conn.exec_driver_sql("PRAGMA user_version").scalar():
                    conn.exec_driver_sql(f"PRAGMA user_version = {CATALOG_VERSION}")
        with engine.begin() as conn:
            conn.execute(
                insert(catalog_meta).from_select(
                    ["id", "bags"],
                    select(1, select(func.count()).select_from(bags).scalar_subquery()).where(
                        ~select(catalog_meta.c.id).exists()
                    ),
                )
            )

    @classmethod
    def open(cls, url_or_path: str | Path) -> Catalog:
        url = str(url_or_path)
        if "://" not in url:
            path = Path(url)
            path.parent.mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{path}"
        return cls(make_engine(url))

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def upsert(self, sidecars: Iterable[Sidecar], conn: Connection | None = None) -> int:
        """Insert or replace the rows of each sidecar (by id, then by path)."""
        items = list(sidecars)
        if not items:
            return 0
        if conn is None:
            with self.begin() as c:
                return self.upsert(items, c)
        ids = [sc.id for sc in items]
        paths = [sc.path for sc in items]
        stale = select(bags.c.id).where(bags.c.id.in_(ids) | bags.c.path.in_(paths))
        stale_ids = [r[0] for r in conn.execute(stale)]
        self._delete_ids(conn, stale_ids)
        topic_delta: Counter[tuple[str, str]] = Counter()
        tag_delta: Counter[tuple[str, str]] = Counter()
        for sc in items:
            topic_delta.update({(t.name, t.type) for t in sc.summary.topics})
            tag_delta.update(set(sc.all_tags().items()))
        rows = [bag_row(sc) for sc in items]
        conn.execute(insert(bags), rows)
        _count_bags(conn, len(rows))
        conn.execute(insert(sidecar_bodies), [{"bag_id": sc.id, "body": sc.to_json()} for sc in items])
        if self.has_fts:
            conn.execute(
                text(
                    f"INSERT INTO {FTS_TABLE} (rowid, body) SELECT rowid, search_text FROM {bags.name} WHERE id IN :ids"
                ).bindparams(_IDS),
                {"ids": ids},
            )
            conn.execute(
                text(
                    f"INSERT INTO {RTREE_TABLE} SELECT rowid, gnss_min_lat, gnss_max_lat, gnss_min_lon, gnss_max_lon "
                    f"FROM {bags.name} WHERE gnss_min_lat IS NOT NULL AND id IN :ids"
                ).bindparams(_IDS),
                {"ids": ids},
            )
        topic_rows = [
            {"bag_id": sc.id, "name": t.name, "type": t.type, "count": t.count, "frequency_hz": t.frequency_hz}
            for sc in items
            for t in sc.summary.topics
        ]
        if topic_rows:
            conn.execute(insert(topics), topic_rows)
        tag_rows = [{"bag_id": sc.id, "key": k, "value": v} for sc in items for k, v in sc.all_tags().items()]
        if tag_rows:
            conn.execute(insert(tags), tag_rows)
        _bump(conn, topic_stats, (topic_stats.c.name, topic_stats.c.type), topic_delta)
        _bump(conn, tag_stats, (tag_stats.c.key, tag_stats.c.value), tag_delta)
        ev = _events.event_stats
        _bump(conn, ev, (ev.c.kind, ev.c.topic), _events.insert_rows(conn, items))
        return len(items)

    def _delete_ids(self, conn: Connection, ids: list[str]) -> None:
        if not ids:
            return
        topic_delta: Counter[tuple[str, str]] = Counter()
        for name, typ in conn.execute(select(topics.c.name, topics.c.type).where(topics.c.bag_id.in_(ids))):
            topic_delta[(name, typ)] -= 1
        tag_delta: Counter[tuple[str, str]] = Counter()
        for key, value in conn.execute(select(tags.c.key, tags.c.value).where(tags.c.bag_id.in_(ids))):
            tag_delta[(key, value)] -= 1
        _bump(conn, topic_stats, (topic_stats.c.name, topic_stats.c.type), topic_delta)
        _bump(conn, tag_stats, (tag_stats.c.key, tag_stats.c.value), tag_delta)
        ev = _events.event_stats
        _bump(conn, ev, (ev.c.kind, ev.c.topic), _events.delete_rows(conn, ids))
        # Explicit child deletes: PostgreSQL and SQLite agree without relying on cascade settings.
        conn.execute(delete(topics).where(topics.c.bag_id.in_(ids)))
        conn.execute(delete(tags).where(tags.c.bag_id.in_(ids)))
        conn.execute(delete(sidecar_bodies).where(sidecar_bodies.c.bag_id.in_(ids)))
        if self.has_fts:
            # A contentless FTS5 row is deleted by handing back the text it indexed.
            conn.execute(
                text(
                    f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}, rowid, body) "
                    f"SELECT 'delete', rowid, search_text FROM {bags.name} WHERE id IN :ids"
                ).bindparams(_IDS),
                {"ids": ids},
            )
            conn.execute(
                text(
                    f"DELETE FROM {RTREE_TABLE} WHERE id IN (SELECT rowid FROM {bags.name} WHERE id IN :ids)"
                ).bindparams(_IDS),
                {"ids": ids},
            )
        gone = conn.execute(delete(bags).where(bags.c.id.in_(ids))).rowcount
        _count_bags(conn, -gone)

    def remove(self, bag_ids: Iterable[str]) -> None:
        with self.begin() as conn:
            self._delete_ids(conn, list(bag_ids))

    def rebuild(self, sidecars: Iterable[Sidecar]) -> int:
        """Replace the whole catalog with these sidecars, in one transaction."""
        with self.begin() as conn:
            conn.execute(delete(topics))
            conn.execute(delete(tags))
            conn.execute(delete(topic_stats))
            conn.execute(delete(tag_stats))
            conn.execute(delete(sidecar_bodies))
            conn.execute(delete(_events.events))
            conn.execute(delete(_events.event_stats))
            conn.execute(delete(_events.signals))
            if self.has_fts:
                conn.exec_driver_sql(f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}) VALUES ('delete-all')")
                conn.exec_driver_sql(f"DELETE FROM {RTREE_TABLE}")
            conn.execute(delete(bags))
            conn.execute(update(catalog_meta).values(bags=0))
            n = self.upsert(sidecars, conn)
        self.analyze()
        return n

    def analyze(self) -> None:
        """Refresh the planner's statistics (ANALYZE): after bulk loads, so that plans use the right indexes."""
        with self.engine.begin() as conn:
            for table in CATALOG_METADATA.sorted_tables:  # only ours: the registry's database hosts others
                conn.exec_driver_sql(f"ANALYZE {table.name}")

    def get(self, bag_id: str) -> Sidecar | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(sidecar_bodies.c.body).where(sidecar_bodies.c.bag_id == bag_id)).first()
        return Sidecar.from_json(row[0]) if row else None

    def find_by_path(self, path: str) -> Sidecar | None:
        with self.engine.connect() as conn:
            row = conn.execute(_sidecar_of().where(bags.c.path == path)).first()
        return Sidecar.from_json(row[0]) if row else None

    def find_by_sha256(self, sha256: str) -> Sidecar | None:
        with self.engine.connect() as conn:
            row = conn.execute(_sidecar_of().where(bags.c.sha256 == sha256)).first()
        return Sidecar.from_json(row[0]) if row else None

    def all_sidecars(self) -> list[Sidecar]:
        with self.engine.connect() as conn:
            rows = conn.execute(_sidecar_of().order_by(bags.c.path)).all()
        return [Sidecar.from_json(r[0]) for r in rows]

    def tag_keys(self) -> set[str]:
        with self.engine.connect() as conn:
            return {r[0] for r in conn.execute(select(tag_stats.c.key).distinct())}

    def stats(self) -> CatalogStats:
        with self.engine.connect() as conn:
            n_bags = conn.execute(select(func.count()).select_from(bags)).scalar_one()
            n_topics = conn.execute(select(func.count()).select_from(topics)).scalar_one()
            n_tags = conn.execute(select(func.count()).select_from(tags)).scalar_one()
        return CatalogStats(int(n_bags), int(n_topics), int(n_tags))

    def snapshot(self) -> list[dict[str, object]]:
        """Every bag with its topics and tags as plain data: compares two catalogs."""
        out: list[dict[str, object]] = []
        with self.engine.connect() as conn:
            for row in conn.execute(
                select(bags, sidecar_bodies.c.body).join(sidecar_bodies).order_by(bags.c.path)
            ).mappings():
                d = {k: v for k, v in row.items() if k != "body"}
                d["sidecar"] = json.loads(row["body"])
                d["topics"] = sorted(
                    (r.name, r.type, r.count) for r in conn.execute(select(topics).where(topics.c.bag_id == row["id"]))
                )
                d["tags"] = sorted(
                    (r.key, r.value) for r in conn.execute(select(tags).where(tags.c.bag_id == row["id"]))
                )
                out.append(d)
        return out

    def close(self) -> None:
        self.engine.dispose()


def sqlite_catalog_version(path: Path) -> int:
    """The user_version of an SQLite catalog file (0 for a file from before versioning)."""
    import sqlite3

    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(con.execute("PRAGMA user_version").fetchone()[0])
    finally:
        con.close()


# The event and signal tables live in their own module on CATALOG_METADATA; importing it here
# registers them before any create_all (it imports this module's names, hence the bottom).
from toolkit.data import catalog_events as _events  # noqa: E402
