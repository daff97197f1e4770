"""Bag writers that take raw serialized messages: ROS 1 (rosbags), rosbag2 (rosbags), MCAP (mcap).

Each sink declares the serialization it stores; :func:`converter_for` gives
the identity when the source already matches (bytes copied untouched) and
rosbags' ``ros1_to_cdr`` / ``cdr_to_ros1`` otherwise (the same conversion
``rosbags-convert`` performs between wire-compatible types).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from toolkit.bags.connection import BagConnection
from toolkit.bags.types import UndecodableError, conversion_typestore_for, ros1_typestore_for
from toolkit.errors import BagError

Converter = Callable[[bytes], bytes]
_UNKNOWN_RIHS01 = "RIHS01_" + "0" * 64  # rosbag2 requires a hash; this marks "definition unknown"


class Sink(Protocol):
    def add(self, conn: BagConnection) -> object: ...
    def write(self, handle: object, timestamp_ns: int, data: bytes) -> None: ...
    def close(self) -> None: ...
    def target_encoding(self, conn: BagConnection) -> str: ...


def converter_for(conn: BagConnection, target: str) -> Converter:
    """Bytes in *conn*'s encoding -> bytes in *target* encoding; raises BagError when impossible."""
    if conn.encoding == target:
        return _identity
    if {conn.encoding, target} != {"ros1", "cdr"}:
        raise BagError(f"topic {conn.topic}: cannot convert {conn.encoding} messages to {target}")
    try:
        store = conversion_typestore_for(conn)
        store.get_msgdef(conn.msgtype)
    except (UndecodableError, Exception) as exc:
        raise BagError(
            f"topic {conn.topic} ({conn.msgtype}) cannot be converted to {target}: {exc}; leave it out with topics"
        ) from exc
    if target == "cdr":
        return lambda data: bytes(store.ros1_to_cdr(data, conn.msgtype))
    return lambda data: bytes(store.cdr_to_ros1(data, conn.msgtype))


def _identity(data: bytes) -> bytes:
    return data


def ros1_definition(conn: BagConnection) -> tuple[str, str]:
    """(message_definition, md5sum) for a ROS 1 connection record."""
    if conn.encoding == "ros1" and conn.msgdef and conn.md5sum:
        return conn.msgdef, conn.md5sum
    return ros1_typestore_for(conn).generate_msgdef(conn.msgtype, ros_version=1)


def ros2_definition(conn: BagConnection) -> tuple[str, str]:
    """(ros2msg/idl definition, RIHS01 hash) for a rosbag2 topic."""
    if conn.encoding == "cdr" and conn.msgdef and conn.msgdef_format in ("ros2msg", "ros2idl"):
        return conn.msgdef, conn.type_hash or _rihs01_or_unknown(conn)
    try:
        store = conversion_typestore_for(conn)
        msgdef, _ = store.generate_msgdef(conn.msgtype, ros_version=2)
        return msgdef, store.hash_rihs01(conn.msgtype)
    except UndecodableError:
        if conn.encoding == "cdr":
            return conn.msgdef, conn.type_hash or _UNKNOWN_RIHS01  # copy what the source has
        raise


def _rihs01_or_unknown(conn: BagConnection) -> str:
    try:
        return conversion_typestore_for(conn).hash_rihs01(conn.msgtype)
    except Exception:
        return _UNKNOWN_RIHS01


class Ros1Sink:
    def __init__(self, path: Path, compression: str = "none") -> None:
        from rosbags.rosbag1 import Writer

        self._writer = Writer(path)
        if compression in ("bz2", "lz4"):
            self._writer.set_compression(Writer.CompressionFormat[compression.upper()])
        self._writer.open()

    def target_encoding(self, conn: BagConnection) -> str:
        return "ros1"

    def add(self, conn: BagConnection) -> object:
        msgdef, md5sum = ros1_definition(conn)
        return self._writer.add_connection(
            conn.topic, conn.msgtype, msgdef=msgdef, md5sum=md5sum, callerid=conn.callerid, latching=conn.latching
        )

    def write(self, handle: object, timestamp_ns: int, data: bytes) -> None:
        self._writer.write(handle, timestamp_ns, data)  # type: ignore[arg-type]

    def close(self) -> None:
        self._writer.close()


class Ros2Sink:
    """A rosbag2 directory (metadata.yaml + one storage file), sqlite3 or mcap storage."""

    def __init__(self, path: Path, storage: str = "sqlite3") -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        self._writer = Writer(path, version=Writer.VERSION_LATEST, storage_plugin=plugin)
        # This instance only: sqlite storage created without a journal or fsyncs (see _bulk_sqlite3).
        self._writer.STORAGE_PLUGINS = {**Writer.STORAGE_PLUGINS, StoragePlugin.SQLITE3: _bulk_sqlite3()}
        self._writer.open()
        self._added: dict[tuple[str, str, str], object] = {}

    def target_encoding(self, conn: BagConnection) -> str:
        return "cdr"

    def add(self, conn: BagConnection) -> object:
        from rosbags.rosbag2.metadata import parse_qos

        key = (conn.topic, conn.msgtype, conn.qos)
        if key in self._added:  # ROS 1 bags may hold several connections of one topic
            return self._added[key]
        msgdef, rihs01 = ros2_definition(conn)
        try:
            qos = parse_qos(conn.qos) if conn.qos else []
        except Exception:  # unparsable QoS text: the messages matter more than the profile
            qos = []
        handle = self._writer.add_connection(
            conn.topic, conn.msgtype, msgdef=msgdef, rihs01=rihs01, serialization_format="cdr", offered_qos_profiles=qos
        )
        self._added[key] = handle
        return handle

    def write(self, handle: object, timestamp_ns: int, data: bytes) -> None:
        self._writer.write(handle, timestamp_ns, data)  # type: ignore[arg-type]

    def copy_sqlite_rows(self, src: Path, rows: dict[int, object], lo: int, hi: int) -> None:
        """Copy messages of the source .db3's topic *rows* (row id -> handle) with lo <= t <= hi, in SQL.

        sqlite moves the blobs itself (no Python object per message); the writer's counters are then
        set from the copied rows so its metadata.yaml comes out as if each message had been written.
        """
        storage = self._writer.storage
        db = getattr(storage, "conn", None)
        if db is None or not rows:
            raise BagError("sqlite copy needs rosbags' sqlite3 storage")
        ids = {row: int(handle.id) for row, handle in rows.items()}  # type: ignore[attr-defined]
        db.commit()  # ATTACH is refused inside the writer's open transaction
        db.execute("ATTACH DATABASE ? AS src", (f"{src.resolve().as_uri()}?immutable=1",))
        try:
            # Source blobs span chains of small pages; memory-mapped reads avoid a syscall per page.
            db.execute("PRAGMA src.mmap_size=1099511627776")
            case = " ".join(f"WHEN {int(row)} THEN {dst}" for row, dst in ids.items())
            marks = ",".join("?" * len(ids))
            db.execute(
                "INSERT INTO main.messages (topic_id, timestamp, data)"
                f" SELECT CASE topic_id {case} END, timestamp, data FROM src.messages"
                f" WHERE topic_id IN ({marks}) AND timestamp >= ? AND timestamp <= ?"
                " ORDER BY timestamp, id",
                (*ids, lo, hi),
            )
            db.commit()
        finally:
            db.execute("DETACH DATABASE src")

    def sync_counters(self) -> dict[int, int]:
        """Set the writer's per-connection counts and time range from the rows in its storage."""
        db = self._writer.storage.conn  # type: ignore[union-attr]
        counts: dict[int, int] = {}
        for cid, n, t0, t1 in db.execute(
            "SELECT topic_id, count(*), min(timestamp), max(timestamp) FROM messages GROUP BY topic_id"
        ):
            counts[int(cid)] = int(n)
            self._writer.min_timestamp = min(self._writer.min_timestamp, int(t0))
            self._writer.max_timestamp = max(self._writer.max_timestamp, int(t1))
        for cid in self._writer.counts:
            self._writer.counts[cid] = counts.get(cid, 0)
        return counts

    def close(self) -> None:
        self._writer.close()


def _bulk_sqlite3() -> type:
    """rosbags' sqlite3 storage, created for bulk writing: 64 KiB pages, no journal, no fsync.

    A bag is written under a temp name and renamed into place when complete, so a crash can only
    lose the temp copy: the rollback journal and an fsync per statement of the schema script
    (~0.2 s here, before any message) buy nothing. Large blobs live in overflow-page chains, which
    64 KiB pages make 16x shorter than sqlite's default 4 KiB ones.
    """
    import sqlite3

    from rosbags.rosbag2.enums import CompressionMode
    from rosbags.rosbag2.storage_sqlite3 import Sqlite3Writer

    class BulkSqlite3Writer(Sqlite3Writer):
        def __init__(self, path: Path, compression: CompressionMode) -> None:
            # Sqlite3Writer.__init__ with the pragmas before its schema script.
            if compression == CompressionMode.STORAGE:
                raise BagError("sqlite3 storage does not support storage-side compression")
            self.path = path / f"{path.name}.db3"
            self.conn = sqlite3.connect(f"file:{self.path}", uri=True)
            for pragma in ("page_size=65536", "journal_mode=OFF", "synchronous=OFF"):
                self.conn.execute(f"PRAGMA {pragma}")
            self.conn.executescript(self.SQLITE_SCHEMA)
            self.cursor = self.conn.cursor()

    return BulkSqlite3Writer


class McapSink:
    """A single .mcap file; messages keep their source serialization (ros1 or cdr), so bytes are copied."""

    def __init__(self, path: Path, compression: str = "zstd", profile: str = "ros2") -> None:
        from mcap.writer import CompressionType, Writer

        self._file = path.open("wb")
        kind = {"zstd": CompressionType.ZSTD, "lz4": CompressionType.LZ4}.get(compression, CompressionType.NONE)
        self._writer = Writer(self._file, compression=kind)
        self._writer.start(profile=profile, library="pitlane")
        self._schemas: dict[tuple[str, str, str], int] = {}

    def target_encoding(self, conn: BagConnection) -> str:
        return conn.encoding

    def add(self, conn: BagConnection) -> object:
        if conn.encoding == "ros1":
            msgdef, md5sum = ros1_definition(conn)
            name, encoding, metadata = _ros1_name(conn.msgtype), "ros1msg", {"md5sum": md5sum}
            if conn.callerid is not None:
                metadata["callerid"] = conn.callerid
            if conn.latching is not None:
                metadata["latching"] = str(conn.latching)
        else:
            msgdef, encoding = conn.msgdef, conn.msgdef_format or ""
            if conn.encoding == "cdr" and not msgdef:
                msgdef, _ = ros2_definition(conn)
                encoding = "ros2msg" if msgdef else ""
            name, metadata = conn.msgtype, {"offered_qos_profiles": conn.qos}
            if conn.type_hash:
                metadata["topic_type_hash"] = conn.type_hash
        key = (name, encoding, msgdef)
        if key not in self._schemas:
            self._schemas[key] = self._writer.register_schema(name=name, encoding=encoding, data=msgdef.encode())
        return self._writer.register_channel(
            topic=conn.topic, message_encoding=conn.encoding, schema_id=self._schemas[key], metadata=metadata
        )

    def write(self, handle: object, timestamp_ns: int, data: bytes) -> None:
        self._writer.add_message(
            channel_id=int(handle),  # type: ignore[call-overload]
            log_time=timestamp_ns,
            publish_time=timestamp_ns,
            data=data,
        )

    def close(self) -> None:
        try:
            self._writer.finish()
        finally:
            self._file.close()


def _ros1_name(msgtype: str) -> str:
    """``sensor_msgs/msg/NavSatFix`` -> ``sensor_msgs/NavSatFix`` (the ros1 profile spelling)."""
    parts = msgtype.split("/")
    return f"{parts[0]}/{parts[-1]}" if len(parts) == 3 else msgtype
