"""Read raw messages from any supported bag, in timestamp order, filtered by topic and time.

ROS 1 goes through ``rosbags.rosbag1.Reader`` (index-driven, decompresses only
the chunks it needs); rosbag2 sqlite3 is queried directly so counts and
contents never depend on metadata.yaml; MCAP goes through the ``mcap`` library,
which also handles files rosbags refuses (non-ros2 profiles, no summary).
"""

from __future__ import annotations

import heapq
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from fnmatch import fnmatchcase
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from toolkit.bags.connection import BagConnection, Message
from toolkit.bags.formats import BagLayout, resolve
from toolkit.bags.summary import BagFormat
from toolkit.bags.timebounds import INT64_MAX, MIN_NS, TimeRange
from toolkit.bags.types import decode_bytes
from toolkit.errors import BagError, CorruptBagError

_MessageIter = Iterator[tuple[int, int, bytes]]  # (timestamp_ns, connection id, data)


class BagReader:
    """An opened bag: its connections and a filtered, time-ordered message iterator."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.layout: BagLayout = resolve(path)
        self.path = self.layout.path
        self.format = self.layout.format
        self.connections: list[BagConnection] = []
        self.recovered_by_scan = False  # True when a damaged bag is read front to back
        # rosbag2 sqlite3 only: per storage file, topics-table row id -> connection id (for SQL copies)
        self.sqlite_rows: list[tuple[Path, dict[int, int]]] = []
        self.message_compressed = False
        # MCAP only: per storage file, channel id -> connection id (for chunk copies)
        self.mcap_channels: list[tuple[Path, dict[int, int]]] = []
        self.mcap_summaries: dict[Path, Any] = {}  # parsed summary per file (parsing costs ~0.1 s/GB)
        self.ros1_index: Any = None  # ROS 1 only: the parsed index section (Ros1Index), for chunk copies
        self._stack = ExitStack()
        self._sources: list[Callable[[set[int] | None, int | None, int | None], _MessageIter]] = []

    def __enter__(self) -> BagReader:
        try:
            if self.format == BagFormat.ROS1:
                self._open_ros1()
            elif self.format == BagFormat.ROS2_SQLITE3:
                self._open_sqlite()
            else:
                self._open_mcap()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self._stack.close()

    # --- selection ---------------------------------------------------------

    def select(self, topics: Iterable[str] | None) -> list[BagConnection]:
        """Connections whose topic matches any of *topics* (exact names or shell globs); all for None."""
        if topics is None:
            return list(self.connections)
        patterns = list(topics)
        return [c for c in self.connections if any(p == c.topic or fnmatchcase(c.topic, p) for p in patterns)]

    def messages(
        self,
        connections: Iterable[BagConnection] | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> Iterator[Message]:
        """Messages with ``start_ns <= t <= end_ns`` (a None bound is open), ordered by timestamp.

        The closed range is the one boundary rule (toolkit/bags/timebounds.py); the sources take an
        exclusive stop like the libraries under them.
        """
        by_id = {c.id: c for c in self.connections}
        wanted = None if connections is None else {c.id for c in connections}
        if start_ns is not None and end_ns is not None and start_ns > end_ns:
            return
        stop = TimeRange(start_ns, end_ns).stop()
        streams = [source(wanted, start_ns, stop) for source in self._sources]
        merged = streams[0] if len(streams) == 1 else heapq.merge(*streams, key=lambda m: m[0])
        for t, cid, data in merged:
            conn = by_id[cid]
            yield Message(conn.topic, conn.msgtype, t, data, conn)

    # --- ROS 1 ---------------------------------------------------------------

    def _open_ros1(self) -> None:
        # Connections come from the index section alone; rosbags' Reader (which also loads every
        # per-message index record) opens only when messages are actually requested.
        from rosbags.rosbag1 import Reader, ReaderError

        from toolkit.bags.ros1_index import Ros1Index, read_bag_header, read_index_section

        parsed: Ros1Index | None = None
        try:
            with self.path.open("rb", buffering=0) as f:
                size = os.fstat(f.fileno()).st_size
                header = read_bag_header(f.fileno(), self.path)
                if header.index_pos == size and header.conn_count == 0 and header.chunk_count == 0:
                    parsed = Ros1Index({}, {}, [])  # a closed bag without messages
                elif header.data_start <= header.index_pos < size:
                    parsed = read_index_section(f.fileno(), header, size)
        except CorruptBagError:
            raise
        except Exception:  # a damaged index section: recover by scanning below
            parsed = None
        if parsed is None:
            self._open_ros1_scan()
            return
        self.connections = list(parsed.connections.values())
        self.ros1_index = parsed
        path, stack = self.path, self._stack
        opened: list[Reader] = []

        def reader() -> Reader:
            if not opened:
                r = Reader(path)
                try:
                    r.open()
                except ReaderError as exc:
                    raise CorruptBagError(f"{path}: damaged ROS 1 bag ({exc})") from exc
                stack.callback(r.close)
                opened.append(r)
            return opened[0]

        def source(wanted: set[int] | None, start: int | None, end: int | None) -> _MessageIter:
            if wanted is not None and not wanted:
                return
            r = reader()
            native = {c.id: c for c in r.connections}
            conns = list(native.values()) if wanted is None else [native[i] for i in sorted(wanted) if i in native]
            try:
                for c, t, data in r.messages(connections=conns, start=start, stop=end):
                    yield t, c.id, bytes(data)
            except ReaderError as exc:
                raise CorruptBagError(f"{path}: damaged chunk ({exc})") from exc

        self._sources.append(source)

    def _open_ros1_scan(self) -> None:
        # The index is damaged: messages come in file (recording) order, which is time order for
        # bags written by rosbag record; sorting would mean holding every payload in memory.
        from toolkit.bags.ros1_index import (
            OP_CONNECTION,
            OP_MSGDATA,
            _time,
            _u32,
            connection_from_fields,
            iter_records,
            parse_fields,
        )

        self.recovered_by_scan = True
        conns: dict[int, BagConnection] = {}
        for op, fields, data in iter_records(self.path):
            if op == OP_CONNECTION:
                cid = _u32(fields, "conn")
                conns.setdefault(cid, connection_from_fields(cid, fields, parse_fields(data)))
        if not conns:
            raise CorruptBagError(f"{self.path}: damaged ROS 1 bag, no connections recoverable")
        self.connections = list(conns.values())
        path = self.path

        def source(wanted: set[int] | None, start: int | None, end: int | None) -> _MessageIter:
            for op, fields, data in iter_records(path):
                if op != OP_MSGDATA:
                    continue
                cid, t = _u32(fields, "conn"), _time(fields, "time")
                if cid not in conns or (wanted is not None and cid not in wanted):
                    continue
                if (start is None or t >= start) and (end is None or t < end):
                    yield t, cid, data

        self._sources.append(source)

    # --- rosbag2 sqlite3 ---------------------------------------------------------

    def _open_sqlite(self) -> None:
        from toolkit.bags.sqlite_index import open_db, read_topics

        message_compression = _message_decompressor(self.layout.metadata)
        self.message_compressed = message_compression is not None
        keys: dict[tuple[str, str, str], BagConnection] = {}
        for path in self.layout.files:
            db = self._stack.enter_context(open_db(path))
            try:
                topics = read_topics(db, path)
            except sqlite3.DatabaseError as exc:
                raise CorruptBagError(f"{path}: damaged sqlite3 storage ({exc})") from exc
            row_to_conn: dict[int, int] = {}
            for row_id, conn in topics:
                key = (conn.topic, conn.msgtype, conn.encoding)
                if key not in keys:
                    keys[key] = BagConnection(**{**conn.__dict__, "id": len(keys) + 1})
                    self.connections.append(keys[key])
                row_to_conn[row_id] = keys[key].id
            self.sqlite_rows.append((path, row_to_conn))
            self._sources.append(_sqlite_source(db, path, row_to_conn, message_compression))

    # --- MCAP ------------------------------------------------------------------

    def _open_mcap(self) -> None:
        from mcap.reader import make_reader

        from toolkit.bags.mcap_index import READ_ERRORS, connection_from_channel

        keys: dict[tuple[str, str, str], BagConnection] = {}
        for path in self.layout.files:
            f = self._stack.enter_context(path.open("rb"))
            reader = make_reader(f)
            try:
                summary = reader.get_summary()
            except READ_ERRORS:
                summary = None
            channel_map: dict[int, int] = {}
            if summary is not None:
                self.mcap_summaries[path] = summary
                for ch in summary.channels.values():
                    conn = connection_from_channel(ch, summary.schemas.get(ch.schema_id))
                    key = (conn.topic, conn.msgtype, conn.encoding)
                    if key not in keys:
                        keys[key] = BagConnection(**{**conn.__dict__, "id": len(keys) + 1})
                        self.connections.append(keys[key])
                    channel_map[ch.id] = keys[key].id
            else:
                self.recovered_by_scan = True
                for conn in _scan_mcap_channels(path):
                    key = (conn.topic, conn.msgtype, conn.encoding)
                    if key not in keys:
                        keys[key] = BagConnection(**{**conn.__dict__, "id": len(keys) + 1})
                        self.connections.append(keys[key])
                    channel_map[conn.id] = keys[key].id
            self.mcap_channels.append((path, channel_map))
            self._sources.append(_mcap_source(f, channel_map, READ_ERRORS, time_ordered=summary is not None))


def _message_decompressor(metadata: dict[str, Any]) -> Callable[[bytes], bytes] | None:
    mode = str(metadata.get("compression_mode") or "").lower()
    fmt = str(metadata.get("compression_format") or "").lower()
    if mode != "message" or not fmt:
        return None
    if fmt != "zstd":
        raise BagError(f"rosbag2 message compression {fmt!r} is not supported")
    import zstandard

    dctx = zstandard.ZstdDecompressor()
    return lambda blob: dctx.decompress(blob, max_output_size=1 << 31)


def _sqlite_source(
    db: sqlite3.Connection,
    path: Path,
    row_to_conn: dict[int, int],
    decompress: Callable[[bytes], bytes] | None,
) -> Callable[[set[int] | None, int | None, int | None], _MessageIter]:
    conn_to_rows: dict[int, list[int]] = {}
    for row, cid in row_to_conn.items():
        conn_to_rows.setdefault(cid, []).append(row)

    def source(wanted: set[int] | None, start: int | None, end: int | None) -> _MessageIter:
        where, args = [], []
        if wanted is not None:
            rows = [r for cid in wanted for r in conn_to_rows.get(cid, [])]
            if not rows:
                return
            where.append(f"topic_id IN ({','.join('?' * len(rows))})")
            args.extend(rows)
        # rosbag2 stores int64 stamps: a bound beyond that range selects all or nothing, and sqlite
        # cannot bind it anyway.
        if start is not None and start > INT64_MAX:
            return
        if start is not None and start > MIN_NS:
            where.append("timestamp >= ?")
            args.append(start)
        if end is not None and end <= INT64_MAX:
            where.append("timestamp < ?")
            args.append(end)
        sql = "SELECT timestamp, topic_id, data FROM messages"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY timestamp, id"
        try:
            for t, row, data in db.execute(sql, args):
                if row not in row_to_conn:
                    continue
                blob = bytes(data)
                yield int(t), row_to_conn[row], decompress(blob) if decompress else blob
        except sqlite3.DatabaseError as exc:
            raise CorruptBagError(f"{path}: damaged sqlite3 storage ({exc})") from exc

    return source


def _mcap_source(
    f: BinaryIO, channel_map: dict[int, int], read_errors: tuple[type[BaseException], ...], *, time_ordered: bool
) -> Callable[[set[int] | None, int | None, int | None], _MessageIter]:
    from mcap.reader import NonSeekingReader, make_reader

    # Without a summary the mcap reader would buffer the whole file to sort it and then lose
    # everything at the damage; file order (recording order) keeps what precedes the damage.
    def source(wanted: set[int] | None, start: int | None, end: int | None) -> _MessageIter:
        if wanted is not None and not wanted:
            return
        f.seek(0)
        reader = make_reader(f) if time_ordered else NonSeekingReader(f)
        try:
            for _schema, channel, message in reader.iter_messages(
                log_time_order=time_ordered, starting_at=start, ending_before=end
            ):
                cid = channel_map.get(channel.id)
                if cid is None or (wanted is not None and cid not in wanted):
                    continue
                yield message.log_time, cid, message.data
        except read_errors:
            return  # a damaged file ends where its damage starts

    return source


def _scan_mcap_channels(path: Path) -> list[BagConnection]:
    from mcap.records import Channel, Schema
    from mcap.stream_reader import StreamReader

    from toolkit.bags.mcap_index import READ_ERRORS, connection_from_channel

    schemas: dict[int, Schema] = {}
    out: list[BagConnection] = []
    with path.open("rb") as f:
        try:
            for record in StreamReader(f, emit_chunks=False).records:
                if isinstance(record, Schema):
                    schemas[record.id] = record
                elif isinstance(record, Channel):
                    out.append(connection_from_channel(record, schemas.get(record.schema_id)))
        except READ_ERRORS:
            pass
        except Exception as exc:
            if not type(exc).__module__.startswith(("zstandard", "lz4", "backports", "compression", "_lz4")):
                raise
    if not out:
        raise CorruptBagError(f"{path}: damaged MCAP file, no channels recoverable")
    return out


def read_messages(
    path: str | os.PathLike[str],
    topics: Iterable[str] | None = None,
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> Iterator[Message]:
    """Yield ``Message(topic, msgtype, timestamp_ns, data, connection)`` in time order.

    *topics* are exact names or shell globs; the range is closed, ``start_ns <= t <= end_ns``,
    and a None bound is open.
    """
    with BagReader(path) as reader:
        yield from reader.messages(reader.select(topics), start_ns, end_ns)


def decode(message: Message) -> object:
    """Deserialize a message read by :func:`read_messages` (rosbags message dataclass)."""
    return decode_bytes(message.connection, message.data)
