"""Rosbag reading, indexing (metadata without payloads), slicing and frames.

Public functions: :func:`detect_format`, :func:`index`, :func:`read_messages`,
:func:`decode`, :func:`slice_bag`, :func:`parse_time_bound`, :func:`read_lineage`.
"""

from toolkit.bags.connection import BagConnection, Message
from toolkit.bags.formats import detect_format
from toolkit.bags.index import hash_files, index
from toolkit.bags.read import BagReader, decode, read_messages
from toolkit.bags.summary import BagFormat, BagSummary, GnssInfo, TopicInfo

__all__ = [
    "BagConnection",
    "BagFormat",
    "BagReader",
    "BagSummary",
    "GnssInfo",
    "Message",
    "TopicInfo",
    "decode",
    "detect_format",
    "hash_files",
    "index",
    "read_messages",
]
