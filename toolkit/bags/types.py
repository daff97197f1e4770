"""Message type stores per connection: can rosbags decode a topic, and decode / convert its bytes.

Each distinct definition gets its own rosbags Typestore, so one unparsable
definition (a service event, an unknown package) marks only its own topics
undecodable instead of failing the whole bag as a shared store would.
"""

from __future__ import annotations

from functools import lru_cache

from rosbags.interfaces import Nodetype
from rosbags.interfaces.typing import Typesdict
from rosbags.typesys import Stores, get_types_from_idl, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from toolkit.bags.connection import BagConnection

DECODABLE_ENCODINGS = ("ros1", "cdr")
_IDL_SEPARATOR = "=" * 80 + "\n"
_HEADER = "std_msgs/msg/Header"


class UndecodableError(Exception):
    """The connection's type cannot be built by rosbags; carries the reason."""


def _key(conn: BagConnection) -> tuple[str, str, str, str]:
    return (conn.encoding, conn.msgtype, conn.msgdef_format, conn.msgdef)


@lru_cache(maxsize=256)
def _store_for(encoding: str, msgtype: str, msgdef_format: str, msgdef: str) -> Typestore:
    if encoding not in DECODABLE_ENCODINGS:
        raise UndecodableError(f"serialization {encoding!r} is not supported")
    if not msgtype:
        raise UndecodableError("connection has no message type")
    if msgdef.strip():
        store = get_typestore(Stores.EMPTY)
        try:
            store.register(_parse(msgtype, msgdef_format, msgdef))
        except Exception as exc:  # rosbags raises several unrelated types for bad definitions
            raise UndecodableError(f"definition of {msgtype} does not parse ({type(exc).__name__})") from exc
    else:
        # No definition stored (older rosbag2 bags): assume the standard interfaces of the encoding's ROS.
        store = get_typestore(Stores.ROS1_NOETIC if encoding == "ros1" else Stores.LATEST)
        if msgtype not in store.fielddefs:
            raise UndecodableError(f"{msgtype} is not a standard type and the bag stores no definition")
    missing = _missing_types(store, msgtype)
    if missing:
        raise UndecodableError(f"{msgtype} needs unknown type {missing}")
    return store


def _missing_types(store: Typestore, msgtype: str) -> str | None:
    """The first nested type the store lacks; walking definitions is far cheaper than building codecs."""
    seen: set[str] = set()
    todo = [msgtype]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name not in store.fielddefs:
            return name
        for _, (nodetype, desc) in store.fielddefs[name][1]:
            if nodetype == Nodetype.NAME:
                todo.append(str(desc))
            elif nodetype in (Nodetype.ARRAY, Nodetype.SEQUENCE) and desc[0][0] == Nodetype.NAME:
                todo.append(str(desc[0][1]))
    return None


def _parse(msgtype: str, msgdef_format: str, msgdef: str) -> Typesdict:
    if msgdef_format in ("ros2idl", "omgidl"):
        typs: Typesdict = {}
        if msgdef.startswith(f"{_IDL_SEPARATOR}IDL: "):
            for part in msgdef.split(_IDL_SEPARATOR)[1:]:
                _, idl = part.split("\n", 1)
                typs.update(get_types_from_idl(idl))
        else:
            typs.update(get_types_from_idl(msgdef))
        return typs
    return get_types_from_msg(msgdef, msgtype)


def typestore_for(conn: BagConnection) -> Typestore:
    """The type store that decodes *conn*; raises UndecodableError with a reason otherwise."""
    return _store_for(*_key(conn))


@lru_cache(maxsize=512)
def _store_with_header(ros_version: int, encoding: str, msgtype: str, msgdef_format: str, msgdef: str) -> Typestore:
    store = _store_for(encoding, msgtype, msgdef_format, msgdef)
    header = store.fielddefs.get(_HEADER)
    wanted = get_typestore(Stores.ROS1_NOETIC if ros_version == 1 else Stores.ROS2_FOXY).fielddefs[_HEADER]
    if header is None or header == wanted:
        return store
    swapped = get_typestore(Stores.EMPTY)
    swapped.register({**{k: v for k, v in store.fielddefs.items() if k != _HEADER}, _HEADER: wanted})
    return swapped


def conversion_typestore_for(conn: BagConnection) -> Typestore:
    """The store for ``ros1_to_cdr`` / ``cdr_to_ros1`` and ROS 2 definitions of *conn*.

    rosbags' ROS 1 <-> CDR codecs drop/add Header.seq themselves and expect the ROS 2 Header
    in the store (rosbags.convert makes the same swap); with the ROS 1 Header they skip seq twice.
    """
    return _store_with_header(2, *_key(conn))


def ros1_typestore_for(conn: BagConnection) -> Typestore:
    """The store whose generated ROS 1 definition and md5sum match ROS 1 tools (Header with seq)."""
    return _store_with_header(1, *_key(conn))


def is_decodable(conn: BagConnection) -> bool:
    try:
        typestore_for(conn)
    except UndecodableError:
        return False
    return True


def decode_bytes(conn: BagConnection, data: bytes | memoryview) -> object:
    """Deserialize one message of *conn* into rosbags' message dataclass."""
    store = typestore_for(conn)
    try:
        store.get_msgdef(conn.msgtype)  # builds the codecs once (rosbags caches them per store)
    except Exception as exc:
        raise UndecodableError(f"{conn.msgtype} cannot be built ({type(exc).__name__}: {exc})") from exc
    if conn.encoding == "ros1":
        return store.deserialize_ros1(data, conn.msgtype)
    return store.deserialize_cdr(data, conn.msgtype)
