"""What DVC knows at one commit, read from Git objects (no checkout): outputs, deps, remote, lineage sidecars."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pygit2

from toolkit.release.dvcmeta import DvcLock, DvcOut, DvcRemote, parse_dvc_config, parse_dvc_file, parse_dvc_lock
from toolkit.release.tags import read_blob_at

LINEAGE_SUFFIX = ".lineage.json"


@dataclass
class CommitScan:
    commit: str
    lock: DvcLock
    outs: dict[str, DvcOut]  # dvc.lock outputs and every *.dvc output, by repo path
    remote: DvcRemote | None
    sidecars: dict[str, dict[str, Any]] = field(default_factory=dict)  # slice path -> sidecar JSON


def scan_commit(repo: pygit2.Repository, commit: str) -> CommitScan:
    lock_text = read_blob_at(repo, commit, "dvc.lock")
    lock = parse_dvc_lock(lock_text.decode()) if lock_text else DvcLock()
    config = read_blob_at(repo, commit, ".dvc/config")
    remote = parse_dvc_config(config.decode()) if config else None
    scan = CommitScan(commit, lock, dict(lock.outs), remote)
    tree = repo.get(commit).peel(pygit2.Tree)  # type: ignore[union-attr]
    stack: list[tuple[str, pygit2.Tree]] = [("", tree)]
    while stack:
        prefix, node = stack.pop()
        for entry in node:
            name = entry.name or ""
            path = f"{prefix}{name}"
            if entry.type_str == "tree":
                if name in {".git", ".dvc"}:
                    continue
                sub = repo.get(entry.id)
                if isinstance(sub, pygit2.Tree):
                    stack.append((f"{path}/", sub))
                continue
            if not name.endswith((".dvc", LINEAGE_SUFFIX)):
                continue
            blob = repo.get(entry.id)
            if not isinstance(blob, pygit2.Blob):
                continue
            text = bytes(blob.data).decode(errors="replace")
            if name.endswith(".dvc"):
                for out in parse_dvc_file(text, path):
                    scan.outs[out.path] = out
            else:
                try:
                    data = json.loads(text)
                except json.JSONDecodeError:
                    continue  # a broken sidecar is not lineage; the slice stays without a source
                if isinstance(data, dict):
                    scan.sidecars[path[: -len(LINEAGE_SUFFIX)]] = data
    return scan


def sidecar_sources(sidecar: dict[str, Any]) -> list[tuple[str, str]]:
    """(source path, source md5) pairs of a slice sidecar; tolerant of the shapes tools write."""
    found: list[tuple[str, str]] = []
    candidates: list[Any] = []
    for key in ("source", "sources", "inputs"):
        value = sidecar.get(key)
        candidates += value if isinstance(value, list) else [value]
    for item in candidates:
        if isinstance(item, dict):
            md5 = item.get("md5") or item.get("source_md5")
            if isinstance(md5, str):
                path = item.get("path") or item.get("name") or ""
                found.append((str(path), md5))
    md5 = sidecar.get("source_md5")
    if isinstance(md5, str):
        found.append((str(sidecar.get("source_path") or sidecar.get("source") or ""), md5))
    return found
