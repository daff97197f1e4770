"""The public Python API of Pitlane.

The CLI and the pipelines call these names; each re-export lives in the
module that owns its logic. Import lazily-heavy parts (torch, dvc) only
inside the functions that need them.
"""

from __future__ import annotations

from toolkit.bags import (
    BagSummary,
    decode,
    detect_format,
    index,
    parse_time_bound,
    read_lineage,
    read_messages,
    slice_bag,
)
from toolkit.client import RegistryClient, connect
from toolkit.config import Settings, get_settings
from toolkit.data.api import (
    add_bags,
    init_repo,
    lineage_chain,
    open_repo,
    reindex,
    remove_bags,
    search,
    slice_catalogued,
    slice_search,
    tag_bag,
)
from toolkit.data.timeline import message_timeline

__all__ = [
    "BagSummary",
    "RegistryClient",
    "Settings",
    "add_bags",
    "connect",
    "decode",
    "detect_format",
    "get_settings",
    "index",
    "init_repo",
    "lineage_chain",
    "message_timeline",
    "open_repo",
    "parse_time_bound",
    "read_lineage",
    "read_messages",
    "reindex",
    "remove_bags",
    "search",
    "slice_bag",
    "slice_catalogued",
    "slice_search",
    "tag_bag",
]
