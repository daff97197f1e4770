"""`pitlane release`: manifest -> dvc push -> annotated tag -> git push.

Data goes up before the tag so a registry never sees a tag whose files are
missing from the DVC remote; a tag whose push fails is deleted locally so the
same command can be retried.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pygit2
import yaml

from toolkit import __version__
from toolkit.errors import ConflictError, ExternalToolError, NotFoundError, ReleaseError
from toolkit.release import grammar
from toolkit.release.commit import scan_commit
from toolkit.release.dvcmeta import DvcLock, DvcOut
from toolkit.release.manifest import (
    DirEntry,
    ManifestDep,
    ManifestFile,
    PackageManifest,
    RunRecordRef,
    summarize_run_record,
)
from toolkit.release.signing import configured_key, load_private_key, sha256_file, sign
from toolkit.release.tags import open_repo, require_commit

RUN_RECORD_NAME = "run.json"


@dataclass(frozen=True)
class ReleaseResult:
    tag: str
    manifest: PackageManifest
    stage_tag: str | None
    pushed: bool


def dvc_exe() -> str:
    """`dvc` on PATH, else the one installed next to this interpreter (a venv not on PATH)."""
    found = shutil.which("dvc")
    if found:
        return found
    sibling = Path(sys.executable).parent / "dvc"
    return str(sibling) if sibling.exists() else "dvc"


def _run(args: list[str], cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    if args[0] == "dvc":
        args = [dvc_exe(), *args[1:]]
    try:
        proc = subprocess.run(args, cwd=cwd, input=stdin, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise ExternalToolError(f"{args[0]} is not installed") from exc
    return proc


def _check(proc: subprocess.CompletedProcess[str], what: str) -> str:
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()]
        raise ExternalToolError(f"{what} failed: {lines[-1] if lines else f'exit {proc.returncode}'}")
    return proc.stdout


def repo_root(start: Path) -> Path:
    found = pygit2.discover_repository(str(start))
    if not found:
        raise NotFoundError(f"not inside a Git repository: {start}")
    repo = pygit2.Repository(found)
    if repo.is_bare or not repo.workdir:
        raise ReleaseError(f"{start} is a bare repository; run release in an experiment checkout")
    return Path(repo.workdir).resolve()


def tracked_outputs(repo: pygit2.Repository, commit: str) -> tuple[DvcLock, dict[str, DvcOut]]:
    """dvc.lock at the commit plus every committed ``*.dvc`` file: path -> DVC output."""
    scan = scan_commit(repo, commit)
    return scan.lock, scan.outs


def _relative(root: Path, path: str) -> str:
    candidate = Path(path)
    absolute = (candidate if candidate.is_absolute() else Path.cwd() / candidate).resolve()
    if not absolute.is_relative_to(root) and not candidate.is_absolute():
        absolute = (root / candidate).resolve()
    try:
        rel = absolute.relative_to(root)
    except ValueError as exc:
        raise ReleaseError(f"{path} is outside the repository {root}") from exc
    return posixpath.normpath(rel.as_posix())


def _uncached_outputs(root: Path) -> set[str]:
    """Metrics and plots of the train stage: Git keeps them (cache: false), so no DVC remote holds their bytes."""
    try:
        stages = yaml.safe_load((root / "dvc.yaml").read_text()).get("stages", {})
    except (OSError, AttributeError, yaml.YAMLError):
        return set()
    found: set[str] = set()
    for key in ("metrics", "plots"):
        for entry in (stages.get("train") or {}).get(key) or []:
            found.update(entry if isinstance(entry, dict) else [entry])
    return {posixpath.normpath(str(p)) for p in found}


def _resolve_files(root: Path, requested: list[str] | None, lock: DvcLock, outs: dict[str, DvcOut]) -> list[DvcOut]:
    if not requested:
        train = [o for o in lock.outs.values() if (o.stage or "").split("@")[0] == "train"]
        git_tracked = _uncached_outputs(root)
        chosen = [o for o in train if posixpath.basename(o.path) != RUN_RECORD_NAME and o.path not in git_tracked]
        if not chosen:
            raise ReleaseError("no 'train' stage outputs in dvc.lock to release; pass --files PATH ...")
        return sorted(chosen, key=lambda o: o.path)
    resolved: list[DvcOut] = []
    for raw in requested:
        rel = _relative(root, raw)
        out = outs.get(rel)
        if out is None:
            parent = next((p for p in outs if rel.startswith(p + "/")), None)
            if parent:
                raise ReleaseError(f"{raw} is inside the DVC-tracked directory {parent}; release {parent}")
            if not (root / rel).exists():
                raise ReleaseError(f"{raw}: no such file in the repository")
            raise ReleaseError(f"{raw} is not DVC-tracked (dvc add it or make it a stage output, then commit)")
        resolved.append(out)
    return resolved


def _check_workspace(root: Path, files: list[DvcOut]) -> None:
    proc = _run(["git", "status", "--porcelain", "--untracked-files=no"], root)
    dirty = _check(proc, "git status").strip().splitlines()
    if dirty:
        raise ReleaseError(f"uncommitted changes ({dirty[0].strip()}, ...); commit them before releasing")
    for out in files:
        if not (root / out.path).exists():
            raise ReleaseError(f"{out.path} is tracked but missing in the workspace; run dvc pull or dvc repro")
    status = json.loads(_check(_run(["dvc", "status", "--json"], root), "dvc status") or "{}")
    stages = {o.stage for o in files if o.stage}
    paths = {o.path for o in files}
    for target, changes in status.items():
        stage_name = target.split(":")[-1]
        touched = stage_name in stages
        for change in changes if isinstance(changes, list) else []:
            if isinstance(change, dict):
                changed_outs = change.get("changed outs") or {}
                if isinstance(changed_outs, dict) and set(changed_outs) & paths:
                    touched = True
        if touched:
            raise ReleaseError(
                f"{target} differs from what dvc.lock records; run dvc repro (or dvc commit) and git commit first"
            )


def _dir_entries(root: Path, out: DvcOut) -> list[DirEntry] | None:
    """A directory output's file listing from the local DVC cache (where dvc repro/add put it)."""
    if not out.is_dir:
        return None
    head, rest = out.md5[:2], out.md5[2:]
    sub = ("files", "md5") if out.hash_name == "md5" else ()
    listing = root / ".dvc" / "cache" / Path(*sub) / head / rest
    if not listing.is_file():
        raise ReleaseError(f"{out.path}: DVC's listing {out.md5} is not in the local cache; run dvc pull {out.path}")
    entries = [
        DirEntry(
            relpath=e["relpath"],
            md5=e["md5"],
            size=_size(root / out.path / e["relpath"]),
            sha256=_sha256(root / out.path / e["relpath"]),
        )
        for e in json.loads(listing.read_text())
    ]
    return entries


def _size(path: Path) -> int | None:
    return path.stat().st_size if path.is_file() else None


def _sha256(path: Path) -> str | None:
    # _check_workspace has matched the workspace to dvc.lock, so these are the released bytes.
    return sha256_file(path) if path.is_file() else None


def _upstream_deps(lock: DvcLock, files: list[DvcOut]) -> list[ManifestDep]:
    """Dependencies (with md5) of the stages that produced the files, and of their upstream stages."""
    producer = {o.path: o.stage for o in lock.outs.values()}
    seen: set[str] = set()
    todo = [o.stage for o in files if o.stage]
    deps: dict[tuple[str, str], ManifestDep] = {}
    while todo:
        stage = todo.pop()
        if stage is None or stage in seen:
            continue
        seen.add(stage)
        for dep in lock.deps.get(stage, []):
            deps[(dep.path, dep.md5)] = ManifestDep(path=dep.path, md5=dep.md5, stage=stage, size=dep.size)
            upstream = producer.get(dep.path)
            if upstream:
                todo.append(upstream)
    return sorted(deps.values(), key=lambda d: (d.path, d.md5))


def _run_record(root: Path, run_record: str | None, outs: dict[str, DvcOut]) -> tuple[RunRecordRef | None, str | None]:
    """The run record reference and its DVC path (when DVC-tracked, so it is pushed with the files)."""
    if run_record:
        rel = _relative(root, run_record)
    else:
        candidates = sorted(p for p in outs if posixpath.basename(p) == RUN_RECORD_NAME)
        rel = candidates[0] if candidates else RUN_RECORD_NAME
    path = root / rel
    if not path.is_file():
        if run_record:
            raise ReleaseError(f"run record {run_record} not found")
        return None, None
    data = path.read_bytes()
    try:
        record = json.loads(data)
    except json.JSONDecodeError as exc:
        raise ReleaseError(f"run record {rel} is not JSON: {exc.msg}") from exc
    summary = summarize_run_record(record) if isinstance(record, dict) else {}
    ref = RunRecordRef(
        path=rel, sha256=hashlib.sha256(data).hexdigest(), md5=hashlib.md5(data).hexdigest(), summary=summary
    )
    return ref, rel if rel in outs else None


def _identity(repo: pygit2.Repository) -> str:
    try:
        return f"{repo.config['user.name']} <{repo.config['user.email']}>"
    except KeyError:
        return os.environ.get("USER", "")


def _tag_exists(root: Path, tag: str, remote: str | None) -> bool:
    local = _run(["git", "rev-parse", "-q", "--verify", f"refs/tags/{tag}"], root)
    if local.returncode == 0:
        return True
    if remote:
        out = _check(_run(["git", "ls-remote", "--tags", remote, f"refs/tags/{tag}"], root), "git ls-remote")
        return bool(out.strip())
    return False


def _create_tag(root: Path, tag: str, commit: str, message: str) -> None:
    # verbatim: the default cleanup would strip lines starting with '#'.
    proc = _run(["git", "tag", "-a", "--cleanup=verbatim", "-F", "-", tag, commit], root, stdin=message)
    _check(proc, f"git tag {tag}")


def _push_tags(root: Path, remote: str, tags: list[str]) -> None:
    proc = _run(["git", "push", "--atomic", "--porcelain", remote, *[f"refs/tags/{t}" for t in tags]], root)
    if proc.returncode != 0:
        for tag in tags:
            _run(["git", "tag", "-d", tag], root)
        text = proc.stderr + proc.stdout
        if "already exists" in text or "rejected" in text:
            raise ConflictError(f"{tags[0]} already exists on {remote}; published versions are immutable")
        _check(proc, f"git push {remote}")


def _remote_name(root: Path) -> str:
    remotes = _check(_run(["git", "remote"], root), "git remote").split()
    if not remotes:
        raise ReleaseError("no Git remote to push to; add one (git remote add origin URL) or use --no-push")
    return "origin" if "origin" in remotes else remotes[0]


def assign_channel(
    name: str, version: str, channel: str, *, repo: Path = Path("."), push: bool = True, message: str | None = None
) -> str:
    """Create (and push) the GTO stage tag ``NAME#CHANNEL#N`` on an existing version's commit."""
    root = repo_root(repo)
    git = open_repo(root)
    vtag = grammar.version_tag(name, version)
    grammar.check_stage(channel)
    remote = _remote_name(root) if push else None
    if remote:
        _check(_run(["git", "fetch", "-q", remote, "refs/tags/*:refs/tags/*"], root), "git fetch tags")
    try:
        commit = require_commit(git, f"refs/tags/{vtag}")
    except ReleaseError as exc:
        raise NotFoundError(f"no release {vtag}") from exc
    existing = [r.removeprefix("refs/tags/") for r in git.references if r.startswith("refs/tags/")]
    counter = grammar.next_counter(existing, name)
    stag = grammar.stage_tag(name, channel, counter)
    body = message or json.dumps({"version": vtag.split("@", 1)[1], "channel": channel, "by": _identity(git)})
    _create_tag(root, stag, commit, body + "\n")
    if remote:
        _push_tags(root, remote, [stag])
    return stag


def release(
    name: str,
    version: str,
    *,
    repo: Path = Path("."),
    files: list[str] | None = None,
    channel: str | None = None,
    push: bool = True,
    run_record: str | None = None,
    rev: str = "HEAD",
    signing_key: Path | None = None,
) -> ReleaseResult:
    """Publish ``NAME@VERSION`` from an experiment repo; see the module docstring for the order."""
    tag = grammar.version_tag(name, version)
    if channel:
        grammar.check_stage(channel)
    root = repo_root(repo)
    if not (root / ".dvc").is_dir():
        raise ReleaseError(f"{root} is not a DVC repository (no .dvc/); run dvc init or pitlane init")
    git = open_repo(root)
    commit = require_commit(git, rev)
    remote = _remote_name(root) if push else None
    if _tag_exists(root, tag, remote):
        raise ConflictError(f"{tag} already exists; published versions are immutable (release a new version)")
    lock, outs = tracked_outputs(git, commit)
    chosen = _resolve_files(root, files, lock, outs)
    _check_workspace(root, chosen)
    run_ref, run_dvc_path = _run_record(root, run_record, outs)
    key_path = signing_key or configured_key()
    private = load_private_key(key_path) if key_path else None  # a bad key fails before anything is pushed
    manifest = PackageManifest(
        name=name,
        version=tag.split("@", 1)[1],
        tag=tag,
        commit=commit,
        created_at=datetime.now(UTC).replace(microsecond=0),
        created_by=_identity(git),
        files=[
            ManifestFile(
                path=o.path,
                md5=o.md5,
                size=o.size,
                nfiles=o.nfiles,
                hash=o.hash_name,
                entries=_dir_entries(root, o),
                sha256=None if o.is_dir else _sha256(root / o.path),
            )
            for o in chosen
        ],
        run=run_ref,
        deps=_upstream_deps(lock, chosen),
        tool=f"pitlane {__version__}",
    )
    if private is not None:
        manifest.signature = sign(manifest.to_dict(), private)
    if push:
        targets = [o.path for o in chosen] + ([run_dvc_path] if run_dvc_path else [])
        _check(_run(["dvc", "push", "-q", *targets], root), "dvc push")
    _create_tag(root, tag, commit, manifest.to_message())
    stage = None
    if channel:
        existing = [r.removeprefix("refs/tags/") for r in git.references if r.startswith("refs/tags/")]
        if remote:
            remote_tags = _check(_run(["git", "ls-remote", "--tags", remote], root), "git ls-remote")
            existing += [ln.split("refs/tags/", 1)[1] for ln in remote_tags.splitlines() if "refs/tags/" in ln]
        stage = grammar.stage_tag(name, channel, grammar.next_counter(existing, name))
        body = json.dumps({"version": manifest.version, "channel": channel, "by": manifest.created_by})
        _create_tag(root, stage, commit, body + "\n")
    if remote:
        _push_tags(root, remote, [tag, *([stage] if stage else [])])
    return ReleaseResult(tag=tag, manifest=manifest, stage_tag=stage, pushed=push)
