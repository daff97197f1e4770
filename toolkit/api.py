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

__all__ = [
    "BagSummary",
    "RegistryClient",
    "Settings",
    "connect",
    "decode",
    "detect_format",
    "get_settings",
    "index",
    "parse_time_bound",
    "read_lineage",
    "read_messages",
    "slice_bag",
]
