"""Index rosbag2 sqlite3 storage: topics from the ``topics`` table, counts and times by SQL.

metadata.yaml counts can be wrong (DESIGN pitfall), so they are never used
for counts; each ``.db3`` file is asked with one grouped query. Message blobs
larger than a page live in overflow pages that the query never touches.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import yaml

from toolkit.bags.connection import BagConnection, ConnectionStats, StorageIndex, ros2_type_name
from toolkit.bags.formats import load_yaml
from toolkit.errors import CorruptBagError

_GROUPED_SQL = "SELECT topic_id, count(*), min(timestamp), max(timestamp) FROM messages GROUP BY topic_id"
# Up to this many topics, one scan counts each with a filtered count column (no sort); more use GROUP BY.
_CASE_COLUMNS_MAX = 8
# The count scan reads each leaf page once, so a few recycled cache slots do: with sqlite's default
# 2,000, every page read first allocates and faults in fresh memory, which doubled the scan of a
# 1 GB bag here (2.3 ms vs 1.2 ms for 1,155 leaf pages).
_SCAN_CACHE_PAGES = 10


@contextmanager
def open_db(path: Path, *, scan: bool = False) -> Iterator[sqlite3.Connection]:
    """Open a .db3 read-only without leaving -wal/-shm files next to someone's bag.

    ``immutable=1`` skips locking and WAL files entirely; only a bag whose WAL still holds
    data (a recording in progress or killed) is opened in plain read-only mode to see it.
    *scan*: the connection walks ``messages`` once (counts, sizes), so it gets a tiny page cache.
    """
    wal = path.with_name(path.name + "-wal")
    mode = "mode=ro" if wal.exists() and wal.stat().st_size > 0 else "immutable=1"
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True)
    except sqlite3.Error as exc:
        raise CorruptBagError(f"{path}: cannot open sqlite3 storage ({exc})") from exc
    with closing(db):
        if scan:
            db.execute(f"PRAGMA cache_size={_SCAN_CACHE_PAGES}")
        yield db


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


def read_topics(db: sqlite3.Connection, path: Path) -> list[tuple[int, BagConnection]]:
    """Topics of one .db3 as (row id, connection); message definitions when the file stores them."""
    cols = _columns(db, "topics")
    if not {"id", "name", "type", "serialization_format"} <= cols:
        raise CorruptBagError(f"{path}: not a rosbag2 sqlite3 file (no topics table)")
    qos_col = "offered_qos_profiles" if "offered_qos_profiles" in cols else "''"
    hash_col = "type_description_hash" if "type_description_hash" in cols else "''"
    definitions = _message_definitions(db)
    rows = db.execute(f"SELECT id, name, type, serialization_format, {qos_col}, {hash_col} FROM topics ORDER BY id")
    out = []
    for row_id, name, typ, fmt, qos, type_hash in rows:
        msgtype = ros2_type_name(str(typ))
        encoding, text = definitions.get(str(typ), ("", ""))
        out.append(
            (
                int(row_id),
                BagConnection(
                    id=int(row_id),
                    topic=str(name),
                    msgtype=msgtype,
                    encoding=str(fmt),
                    msgdef=text,
                    msgdef_format=encoding,
                    qos=str(qos or ""),
                    type_hash=str(type_hash or ""),
                ),
            )
        )
    return out


def _message_definitions(db: sqlite3.Connection) -> dict[str, tuple[str, str]]:
    # Storage schema v4+ (Iron and later) keeps each type's definition in the file.
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "message_definitions" not in tables:
        return {}
    rows = db.execute("SELECT topic_type, encoding, encoded_message_definition FROM message_definitions")
    return {str(t): (str(enc), str(text)) for t, enc, text in rows if text}


def file_metadata(db: sqlite3.Connection) -> dict[str, Any]:
    """The serialized metadata some recorders store inside the .db3 (schema v3+), or {}."""
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "metadata" not in tables:
        return {}
    row = db.execute("SELECT metadata FROM metadata ORDER BY id DESC LIMIT 1").fetchone()
    if not row:
        return {}
    try:
        doc = load_yaml(row[0])
    except yaml.YAMLError:
        return {}
    info = doc.get("rosbag2_bagfile_information") if isinstance(doc, dict) else None
    return info if isinstance(info, dict) else {}


def index_sqlite(files: Sequence[Path], metadata: dict[str, Any]) -> StorageIndex:
    """Aggregate topics and counts over every .db3 of a (possibly split) bag."""
    by_key: dict[tuple[str, str, str], ConnectionStats] = {}
    custom: dict[str, str] = {}
    for path in files:
        try:
            with open_db(path, scan=True) as db:
                topics = read_topics(db, path)
                counts = _counts(db, [row_id for row_id, _conn in topics])
                if not metadata:
                    custom.update(_custom_data(file_metadata(db)))
        except sqlite3.DatabaseError as exc:
            raise CorruptBagError(f"{path}: damaged sqlite3 storage ({exc})") from exc
        for row_id, conn in topics:
            key = (conn.topic, conn.msgtype, conn.encoding)
            if key not in by_key:
                by_key[key] = ConnectionStats(BagConnection(**{**conn.__dict__, "id": len(by_key) + 1}))
            n, start, end = counts.get(row_id, (0, None, None))
            by_key[key].add(n, None if start is None else int(start), None if end is None else int(end))
    custom.update(_custom_data(metadata))
    compression = _compression(metadata)
    return StorageIndex(stats=list(by_key.values()), compression=compression, custom_data=custom)


def _counts(db: sqlite3.Connection, topic_ids: list[int]) -> dict[int, tuple[int, Any, Any]]:
    """topic row id -> (messages, first timestamp, last timestamp), exact, from one table scan.

    Counting reads every leaf page of ``messages`` (rosbag2 has no index on topic_id; each 1 MiB
    message puts the next leaf ~1 MiB further on). Times come from ``timestamp_idx`` when the file
    has it (two b-tree descents) and are then the bag-wide range for each topic, as in MCAP's
    summary; without that index the scan takes per-topic times as well.
    """
    if not _has_timestamp_index(db) or len(topic_ids) > _CASE_COLUMNS_MAX:
        return {int(r[0]): (int(r[1]), r[2], r[3]) for r in db.execute(_GROUPED_SQL)}
    if not topic_ids:
        return {}
    # FILTER is a little cheaper per row than count(CASE ...) (measured ~8 % on 10k rows; sqlite >= 3.30).
    columns = ", ".join(f"count(*) FILTER (WHERE topic_id = {int(i)})" for i in topic_ids)
    row = db.execute(f"SELECT {columns} FROM messages").fetchone()
    if not any(row):
        return {}
    first = db.execute("SELECT min(timestamp) FROM messages").fetchone()[0]
    last = db.execute("SELECT max(timestamp) FROM messages").fetchone()[0]
    return {topic_id: (int(n), first, last) for topic_id, n in zip(topic_ids, row, strict=True) if n}


def _has_timestamp_index(db: sqlite3.Connection) -> bool:
    for _seq, name, *_rest in db.execute("PRAGMA index_list(messages)"):
        columns = [r[2] for r in db.execute(f"PRAGMA index_info({_quote(name)})")]
        if columns[:1] == ["timestamp"]:
            return True
    return False


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _custom_data(metadata: dict[str, Any]) -> dict[str, str]:
    data = metadata.get("custom_data")
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items()}


def _compression(metadata: dict[str, Any]) -> set[str]:
    fmt = str(metadata.get("compression_format") or "").strip()
    return {fmt} if fmt else {"none"}
