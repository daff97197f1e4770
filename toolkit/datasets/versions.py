"""Dataset versions in Git: ``frames/`` is DVC-tracked, ``manifest.json`` is committed,
and each version is an annotated tag ``NAME@vN``.

Tag message (what the registry reads)::

    sha256:<hex of manifest.json at the tagged commit>

    Pitlane-Dataset: <dataset dir relative to the repo root>
    Frames: <count>

The first line is the manifest digest; the trailers say where the manifest is,
so a registry can read it from the tag with plain Git (no DVC needed).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from toolkit.datasets import manifest as mf
from toolkit.errors import ConflictError, DatasetError, ExternalToolError, NotFoundError, UserError

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
TAG_RE = re.compile(r"^(?P<name>[a-z0-9][a-z0-9._-]*)@v(?P<n>\d+)$")
DEFAULT_PARENT = "datasets"


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise UserError(f"dataset name {name!r}: use lower-case letters, digits, '.', '_' or '-' (max 64)")
    return name


def _run(args: list[str], cwd: Path, what: str) -> str:
    try:
        proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise ExternalToolError(f"{args[0]} is not installed") from None
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()]
        raise ExternalToolError(f"{what} failed: {lines[-1] if lines else f'exit {proc.returncode}'}")
    return proc.stdout


def git(root: Path, *args: str) -> str:
    return _run(["git", *args], root, f"git {args[0]}")


def dvc(root: Path, *args: str) -> str:
    import shutil
    import sys

    exe = shutil.which("dvc") or str(Path(sys.executable).parent / "dvc")
    return _run([exe, *args], root, f"dvc {args[0]}")


def repo_root(start: Path) -> Path:
    probe = start if start.is_dir() else start.parent
    while not probe.exists():
        probe = probe.parent
    proc = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=probe, capture_output=True, text=True)
    if proc.returncode != 0:
        raise DatasetError(f"{start}: not inside a Git repository (run `git init` and `dvc init` first)")
    return Path(proc.stdout.strip()).resolve()


def ensure_dvc(root: Path) -> None:
    if not (root / ".dvc").is_dir():
        dvc(root, "init", "-q")
        git(root, "add", ".dvc", ".dvcignore")


@dataclass(frozen=True)
class VersionInfo:
    name: str
    version: int
    tag: str
    commit: str
    digest: str
    path: str  # dataset dir relative to the repo root
    frames: int
    date: str


def tag_name(name: str, version: int) -> str:
    return f"{name}@v{version}"


def _parse_message(message: str) -> tuple[str, dict[str, str]]:
    lines = message.strip().splitlines()
    digest = lines[0].strip() if lines else ""
    trailers: dict[str, str] = {}
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if sep and key.strip():
            trailers[key.strip()] = value.strip()
    return digest, trailers


def is_dataset_tag_message(message: str) -> bool:
    """True for a dataset version tag's message (so release/package sync can skip such tags)."""
    digest, trailers = _parse_message(message)
    return digest.startswith("sha256:") and "Pitlane-Dataset" in trailers


def list_versions(root: Path, name: str | None = None) -> list[VersionInfo]:
    """Dataset version tags (those whose message is a manifest digest), oldest first per name."""
    pattern = f"refs/tags/{name}@v*" if name else "refs/tags/*@v*"
    fmt = "%(refname:strip=2)%00%(*objectname)%00%(creatordate:iso-strict)%00%(contents)%01"
    out = git(root, "for-each-ref", f"--format={fmt}", pattern)
    found: list[VersionInfo] = []
    for record in out.split("\x01"):
        record = record.strip("\n")
        if not record:
            continue
        tag, commit, date, message = [*record.split("\x00"), "", "", ""][:4]
        m = TAG_RE.match(tag)
        digest, trailers = _parse_message(message)
        if not m or not commit or not is_dataset_tag_message(message):
            continue  # lightweight tags and package releases are not dataset versions
        found.append(
            VersionInfo(
                name=m["name"],
                version=int(m["n"]),
                tag=tag,
                commit=commit,
                digest=digest,
                path=trailers["Pitlane-Dataset"],
                frames=int(trailers.get("Frames", "0") or 0),
                date=date,
            )
        )
    return sorted(found, key=lambda v: (v.name, v.version))


def latest_version(root: Path, name: str) -> VersionInfo | None:
    versions = list_versions(root, name)
    return versions[-1] if versions else None


def read_manifest_at(root: Path, info: VersionInfo) -> mf.Manifest:
    data = git(root, "show", f"{info.commit}:{info.path}/{mf.MANIFEST_FILE}")
    return mf.loads(data, info.tag)


def commit_version(
    root: Path, dataset_dir: Path, manifest: mf.Manifest, action: str, frames_changed: bool = True
) -> VersionInfo:
    """Write the manifest as version N+1: dvc add frames/ (when they changed), commit, tag NAME@vN."""
    previous = latest_version(root, manifest.name)
    manifest.version = (previous.version if previous else 0) + 1
    if git(root, "tag", "--list", tag_name(manifest.name, manifest.version)).strip():
        raise ConflictError(f"tag {tag_name(manifest.name, manifest.version)} exists but is not a dataset version")
    digest = mf.write(manifest, dataset_dir)
    rel = dataset_dir.resolve().relative_to(root).as_posix()
    ensure_dvc(root)
    frames = dataset_dir / mf.FRAMES_DIR
    paths = [f"{rel}/{mf.MANIFEST_FILE}"]
    if frames.is_dir() and (frames_changed or not (dataset_dir / f"{mf.FRAMES_DIR}.dvc").is_file()):
        dvc(root, "add", "-q", f"{rel}/{mf.FRAMES_DIR}")
        paths += [f"{rel}/{mf.FRAMES_DIR}.dvc", f"{rel}/.gitignore"]
    git(root, "add", "--", *paths)
    ours = [*paths, ".dvc/config", ".dvc/.gitignore", ".dvcignore"]
    staged = set(git(root, "diff", "--cached", "--name-only", "--", *ours).split())
    message = f"dataset: {manifest.name} v{manifest.version} ({action})"
    if staged:
        # Only our paths: whatever else the user has staged stays staged, uncommitted.
        git(root, "commit", "-q", "-m", message, "--", *sorted(staged))
    body = f"{digest}\n\nPitlane-Dataset: {rel}\nFrames: {len(manifest.frames)}\n"
    tag = tag_name(manifest.name, manifest.version)
    git(root, "tag", "-a", tag, "-m", body)
    commit = git(root, "rev-parse", f"{tag}^{{commit}}").strip()
    return VersionInfo(manifest.name, manifest.version, tag, commit, digest, rel, len(manifest.frames), mf.now_iso())


@dataclass(frozen=True)
class DatasetRef:
    root: Path
    dir: Path
    name: str


def locate(name: str, repo: Path | None = None) -> DatasetRef:
    """Find a dataset's working directory: from its latest tag, else the default datasets/NAME."""
    check_name(name)
    root = repo_root((repo or Path.cwd()).resolve())
    latest = latest_version(root, name)
    candidates = [root / latest.path] if latest else []
    candidates.append(root / DEFAULT_PARENT / name)
    for cand in candidates:
        if (cand / mf.MANIFEST_FILE).is_file():
            return DatasetRef(root, cand, name)
    raise NotFoundError(f"dataset {name!r} not found in {root}")


def resolve_ref(ref: str, repo: Path | None = None) -> tuple[DatasetRef, mf.Manifest, str]:
    """'NAME' (working copy) or 'NAME@vN' (a tagged version) -> its manifest and a label for display."""
    name, sep, ver = ref.partition("@")
    ds = locate(name, repo)
    if not sep:
        return ds, mf.read(ds.dir), f"{name} (working copy)"
    m = re.fullmatch(r"v?(\d+)", ver)
    if not m:
        raise UserError(f"{ref!r}: expected NAME or NAME@vN")
    wanted = int(m.group(1))
    for info in list_versions(ds.root, name):
        if info.version == wanted:
            return ds, read_manifest_at(ds.root, info), info.tag
    raise NotFoundError(f"dataset version {name}@v{wanted} not found")


def version_dataset(name: str, repo: Path | None = None) -> VersionInfo | None:
    """Tag the working manifest as the next version; None when it equals the latest version."""
    ds = locate(name, repo)
    data = (ds.dir / mf.MANIFEST_FILE).read_bytes()
    latest = latest_version(ds.root, name)
    if latest is not None and mf.digest_bytes(data) == latest.digest:
        return None
    manifest = mf.loads(data, str(ds.dir / mf.MANIFEST_FILE))
    manifest.lineage.append(
        mf.LineageEntry(action="edit", at=mf.now_iso(), detail={"from": latest.tag if latest else None})
    )
    return commit_version(ds.root, ds.dir, manifest, "edit", frames_changed=True)
