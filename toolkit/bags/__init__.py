"""Rosbag reading, indexing (metadata without payloads), slicing and frames.

Public functions: :func:`detect_format`, :func:`index`, :func:`read_messages`,
:func:`decode`, :func:`slice_bag`, :func:`parse_time_bound`, :func:`read_lineage`.

Names load lazily: importing ``toolkit.bags.summary`` (the contract) must not
pull in rosbags and mcap for every CLI start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "BagConnection": "toolkit.bags.connection",
    "Message": "toolkit.bags.connection",
    "detect_format": "toolkit.bags.formats",
    "hash_files": "toolkit.bags.indexer",
    "index": "toolkit.bags.indexer",
    "Lineage": "toolkit.bags.lineage",
    "read_lineage": "toolkit.bags.lineage",
    "BagReader": "toolkit.bags.read",
    "decode": "toolkit.bags.read",
    "read_messages": "toolkit.bags.read",
    "SliceResult": "toolkit.bags.slice",
    "slice_bag": "toolkit.bags.slice",
    "BagFormat": "toolkit.bags.summary",
    "BagSummary": "toolkit.bags.summary",
    "GnssInfo": "toolkit.bags.summary",
    "TopicInfo": "toolkit.bags.summary",
    "parse_time_bound": "toolkit.bags.timebounds",
}

__all__ = [
    "BagConnection",
    "BagFormat",
    "BagReader",
    "BagSummary",
    "GnssInfo",
    "Lineage",
    "Message",
    "SliceResult",
    "TopicInfo",
    "decode",
    "detect_format",
    "hash_files",
    "index",
    "parse_time_bound",
    "read_lineage",
    "read_messages",
    "slice_bag",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'toolkit.bags' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


if TYPE_CHECKING:
    from toolkit.bags.connection import BagConnection, Message
    from toolkit.bags.formats import detect_format
    from toolkit.bags.indexer import hash_files, index
    from toolkit.bags.lineage import Lineage, read_lineage
    from toolkit.bags.read import BagReader, decode, read_messages
    from toolkit.bags.slice import SliceResult, slice_bag
    from toolkit.bags.summary import BagFormat, BagSummary, GnssInfo, TopicInfo
    from toolkit.bags.timebounds import parse_time_bound
