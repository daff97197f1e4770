"""Read DVC metadata from text (dvc.lock, ``*.dvc``, ``.dvc/config``) without running DVC.

The registry reads these from Git blobs at a tag's commit, so everything
here takes strings, never a working tree.
"""

from __future__ import annotations

import configparser
import posixpath
from dataclasses import dataclass, field

import yaml

from toolkit.errors import ReleaseError


@dataclass(frozen=True)
class DvcOut:
    """One DVC-addressed path: an output or a dependency."""

    path: str  # POSIX, relative to the repo root
    md5: str  # DVC's md5 ("<hex>.dir" for directories)
    size: int | None = None
    nfiles: int | None = None
    hash_name: str = "md5"  # "md5" = DVC 3 (files/md5/ in the remote); "md5-dos2unix" = DVC 2 legacy
    stage: str | None = None

    @property
    def is_dir(self) -> bool:
        return self.md5.endswith(".dir")

    def object_key(self, prefix: str = "") -> str:
        """Where DVC stores this object inside a remote (prefix = the remote's path)."""
        head, rest = self.md5[:2], self.md5[2:]
        parts = [prefix.strip("/")] if prefix.strip("/") else []
        parts += ["files", "md5"] if self.hash_name == "md5" else []
        return "/".join([*parts, head, rest])


@dataclass
class DvcLock:
    outs: dict[str, DvcOut] = field(default_factory=dict)
    deps: dict[str, list[DvcOut]] = field(default_factory=dict)  # stage -> deps with md5
    params: dict[str, dict[str, object]] = field(default_factory=dict)  # stage -> {file: {key: value}}


def _entry(raw: dict[str, object], base: str, stage: str | None) -> DvcOut | None:
    path = raw.get("path")
    md5 = raw.get("md5")
    if not isinstance(path, str) or not isinstance(md5, str):
        return None
    size = raw.get("size")
    nfiles = raw.get("nfiles")
    hash_name = raw.get("hash")
    return DvcOut(
        path=posixpath.normpath(posixpath.join(base, path)),
        md5=md5,
        size=size if isinstance(size, int) else None,
        nfiles=nfiles if isinstance(nfiles, int) else None,
        hash_name=hash_name if isinstance(hash_name, str) else "md5-dos2unix",
        stage=stage,
    )


def _load_yaml(text: str, what: str) -> dict[str, object]:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ReleaseError(f"{what} is not valid YAML: {str(exc).splitlines()[0]}") from exc
    if not isinstance(data, dict):
        raise ReleaseError(f"{what} is not a mapping")
    return data


def parse_dvc_lock(text: str, base: str = "") -> DvcLock:
    """Outputs and dependency hashes of every stage in a dvc.lock (schema 2.0)."""
    data = _load_yaml(text, "dvc.lock")
    stages = data.get("stages") or {}
    lock = DvcLock()
    if not isinstance(stages, dict):
        raise ReleaseError("dvc.lock has no 'stages' mapping")
    for stage, body in stages.items():
        if not isinstance(body, dict):
            continue
        for raw in body.get("outs") or []:
            if isinstance(raw, dict) and (out := _entry(raw, base, str(stage))):
                lock.outs[out.path] = out
        deps = [d for raw in body.get("deps") or [] if isinstance(raw, dict) and (d := _entry(raw, base, str(stage)))]
        lock.deps[str(stage)] = deps
        params = body.get("params")
        if isinstance(params, dict):
            lock.params[str(stage)] = {str(k): v for k, v in params.items()}
    return lock


def parse_dvc_file(text: str, dvc_file_path: str) -> list[DvcOut]:
    """Outputs of one ``*.dvc`` file; paths are relative to the file's directory."""
    data = _load_yaml(text, dvc_file_path)
    base = posixpath.dirname(dvc_file_path)
    raw_outs = data.get("outs")
    if not isinstance(raw_outs, list):
        return []
    return [o for raw in raw_outs if isinstance(raw, dict) and (o := _entry(raw, base, None))]


@dataclass(frozen=True)
class DvcRemote:
    name: str
    url: str
    endpointurl: str | None = None

    @property
    def bucket_and_prefix(self) -> tuple[str, str]:
        """``s3://bucket/some/prefix`` -> ("bucket", "some/prefix")."""
        rest = self.url.split("://", 1)[1] if "://" in self.url else self.url
        bucket, _, prefix = rest.partition("/")
        return bucket, prefix.strip("/")

    def object_url(self, out: DvcOut) -> str:
        return f"{self.url.rstrip('/')}/{out.object_key()}"


def parse_dvc_config(text: str) -> DvcRemote | None:
    """The default remote (or the only one) of a committed ``.dvc/config``; keys never live here."""
    parser = configparser.ConfigParser()
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        raise ReleaseError(f".dvc/config does not parse: {str(exc).splitlines()[0]}") from exc
    remotes: dict[str, DvcRemote] = {}
    for section in parser.sections():
        # DVC writes sections as: remote "name"
        if section.startswith("'remote") or section.startswith('"remote') or section.startswith("remote"):
            name = section.split('"')[1] if '"' in section else section.split()[-1]
            url = parser.get(section, "url", fallback=None)
            if url:
                remotes[name] = DvcRemote(name, url, parser.get(section, "endpointurl", fallback=None))
    default = None
    for section in parser.sections():
        if section.strip("'\"") == "core":
            default = parser.get(section, "remote", fallback=None)
    if default and default in remotes:
        return remotes[default]
    if len(remotes) == 1:
        return next(iter(remotes.values()))
    return None
