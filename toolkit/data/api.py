"""The data part's public functions (re-exported by toolkit.api); the CLI calls only these."""

from __future__ import annotations

from pathlib import Path

from toolkit.data.catalog import CATALOG_METADATA, Catalog
from toolkit.data.fsck import FsckReport, fsck
from toolkit.data.ingest import (
    AddReport,
    add_bags,
    parse_tag_args,
    pull,
    push,
    reindex,
    remove_bags,
    resolve_bag,
    tag_bag,
)
from toolkit.data.repo import DataRepo, init_repo
from toolkit.data.search import SearchResponse, SearchResult, search
from toolkit.data.sidecar import Sidecar
from toolkit.data.slicing import lineage_chain, slice_catalogued, slice_search


def open_repo(path: Path | None = None) -> DataRepo:
    """The data repo at or above `path` (default: the current directory)."""
    return DataRepo.find(path)


__all__ = [
    "CATALOG_METADATA",
    "AddReport",
    "Catalog",
    "DataRepo",
    "FsckReport",
    "SearchResponse",
    "SearchResult",
    "Sidecar",
    "add_bags",
    "fsck",
    "init_repo",
    "lineage_chain",
    "open_repo",
    "parse_tag_args",
    "pull",
    "push",
    "reindex",
    "remove_bags",
    "resolve_bag",
    "search",
    "slice_catalogued",
    "slice_search",
    "tag_bag",
]
