"""The package manifest: the JSON document carried in a release tag's message.

Format ``pitlane.package/v1``::

    {"schema": "pitlane.package/v1", "name": "perception/detector", "version": "v1.2.0",
     "tag": "perception/detector@v1.2.0", "commit": "<sha1>", "created_at": "...", "created_by": "...",
     "files": [{"path": "models", "md5": "<hex>.dir", "size": 123, "nfiles": 2, "hash": "md5",
                "entries": [{"relpath": "model.pt", "md5": "<hex>", "size": 100}, ...]}],
     "run": {"path": "run.json", "sha256": "<hex>", "md5": "<hex>", "summary": {...}},
     "deps": [{"path": "data/slices/a.mcap", "md5": "<hex>", "stage": "train"}],
     "tool": "pitlane 0.1.0"}

GTO ignores the message content, so the tag stays valid for ``gto show``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from toolkit.errors import ReleaseError

SCHEMA = "pitlane.package/v1"


class DirEntry(BaseModel):
    relpath: str
    md5: str
    size: int | None = None
    sha256: str | None = None


class ManifestFile(BaseModel):
    path: str
    md5: str
    size: int | None = None
    nfiles: int | None = None
    hash: str = "md5"
    # sha256 of a single file's bytes (a directory's are on its entries): what a signature covers.
    sha256: str | None = None
    # For a directory (md5 "<hex>.dir"): its files, so a registry can address each
    # object without fetching the .dir listing; verify_dir_entries checks them.
    entries: list[DirEntry] | None = None


class ManifestDep(BaseModel):
    path: str
    md5: str
    stage: str | None = None
    size: int | None = None


class RunRecordRef(BaseModel):
    path: str
    sha256: str
    md5: str | None = None
    summary: dict[str, Any] = Field(default_factory=dict)


class PackageManifest(BaseModel):
    schema_: str = Field(default=SCHEMA, alias="schema")
    name: str
    version: str
    tag: str
    commit: str
    created_at: datetime
    created_by: str = ""
    files: list[ManifestFile]
    run: RunRecordRef | None = None
    deps: list[ManifestDep] = Field(default_factory=list)
    tool: str = ""
    # {"alg": "ed25519", "keyid", "sig"} over the rest of the manifest (toolkit/release/signing.py).
    signature: dict[str, str] | None = None

    model_config = {"populate_by_name": True}

    def to_message(self) -> str:
        """The tag message: one JSON document, keys sorted so equal manifests are equal bytes."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=2) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """The manifest as JSON data; an unsigned one has no ``signature`` key, as before signing existed."""
        data = self.model_dump(mode="json", by_alias=True)
        if data.get("signature") is None:
            data.pop("signature", None)
        return data

    @classmethod
    def from_message(cls, message: str) -> PackageManifest:
        try:
            data = json.loads(message)
        except json.JSONDecodeError as exc:
            raise ReleaseError(f"tag message is not a JSON manifest: {exc.msg}") from exc
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise ReleaseError(f"tag message is not a {SCHEMA} manifest")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ReleaseError(f"invalid manifest: {where}: {first['msg']}") from exc


def summarize_run_record(record: dict[str, Any]) -> dict[str, Any]:
    """The parts of run.json a registry needs for search and lineage; the file itself stays in DVC.

    Knows the experiment run record (toolkit/experiment/record.py: ``git``, ``params_sha256``,
    ``data.lock`` per-stage dep hashes, ``data.sources`` dataset refs with md5) and keeps flat
    ``deps`` ({path: md5}) from other writers.
    """
    keep = (
        "schema",
        "name",
        "git",
        "params_sha256",
        "params_hash",
        "seed",
        "command",
        "started_at",
        "finished_at",
        "duration_s",
        "metrics",
        "environment",
        "versions",
        "dirty",
    )
    summary = {k: record[k] for k in keep if k in record}
    data = record.get("data")
    if isinstance(data, dict):
        summary["data"] = {k: data[k] for k in ("lock", "sources") if k in data}
    for key in ("deps", "dvc_deps", "dependencies"):
        if key in record:
            summary["deps"] = record[key]
            break
    return summary


def run_record_deps(summary: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(path, md5, origin) of every input a run record names: dvc.lock deps and dataset sources."""
    found: list[tuple[str, str, str]] = []
    flat = summary.get("deps")
    if isinstance(flat, dict):
        for path, value in flat.items():
            md5 = value.get("md5") if isinstance(value, dict) else value
            if isinstance(md5, str):
                found.append((str(path), md5, "run"))
    data = summary.get("data") if isinstance(summary.get("data"), dict) else {}
    lock = data.get("lock") if isinstance(data, dict) else None
    if isinstance(lock, dict):
        for stage, entry in lock.items():
            deps = entry.get("deps") if isinstance(entry, dict) else None
            if isinstance(deps, dict):
                found += [(str(p), m, f"run:{stage}") for p, m in deps.items() if isinstance(m, str)]
    sources = data.get("sources") if isinstance(data, dict) else None
    if isinstance(sources, dict):
        for name, src in sources.items():
            if isinstance(src, dict) and isinstance(src.get("md5"), str):
                where = f"{src.get('repo') or ''}@{src.get('commit') or src.get('rev') or ''}:{src.get('path') or name}"
                found.append((where, src["md5"], f"dataset:{name}"))
    return found


def dir_md5(entries: list[DirEntry]) -> str:
    """DVC's directory hash: md5 of its sorted ``[{"md5", "relpath"}]`` listing (dvc_data Tree.as_bytes)."""
    listing = sorted(({"md5": e.md5, "relpath": e.relpath} for e in entries), key=lambda d: d["relpath"])
    return hashlib.md5(json.dumps(listing, sort_keys=True).encode()).hexdigest() + ".dir"


def verify_dir_entries(file: ManifestFile) -> bool:
    """Whether a directory's listed entries are exactly the ones its DVC hash stands for."""
    return file.entries is not None and dir_md5(file.entries) == file.md5


def file_digests(manifest: dict[str, Any]) -> dict[str, str]:
    """path -> sha256 of every file a manifest names (directory entries as ``dir/relpath``)."""
    found: dict[str, str] = {}
    for f in manifest.get("files") or []:
        if not isinstance(f, dict):
            continue
        if isinstance(f.get("sha256"), str):
            found[str(f["path"])] = f["sha256"]
        for e in f.get("entries") or []:
            if isinstance(e, dict) and isinstance(e.get("sha256"), str):
                found[f"{f['path']}/{e['relpath']}"] = e["sha256"]
    return found
