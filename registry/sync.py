"""Git tags -> package versions and channels.

For each registered remote: fetch its tags with pygit2 into a bare mirror
under ``$PITLANE_HOME/mirrors``, then settle only the tags whose ref is new
or moved since the last sync (``synced_tags`` remembers tag -> tag object;
GTO instead rebuilds its whole state on every call, which is what makes it
slow with thousands of tags).

Every tag is settled in its own database transaction together with its
``synced_tags`` row, so a crash (even ``kill -9``) at any moment leaves each
version either complete (files, lineage, audit event) or absent, and the
next sync carries on with the rest.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pygit2
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.core.db import Database
from registry.core.policy import Policy
from registry.core.security import Principal
from registry.models import Channel, PackageVersion, Project, utcnow
from registry.models_links import BagSource, GitRemote, SyncedTag, VersionDep
from registry.services import packages as pkgs
from toolkit.errors import NotFoundError, PermissionDeniedError, PitlaneError, ReleaseError
from toolkit.release.commit import CommitScan, scan_commit, sidecar_sources
from toolkit.release.grammar import TagAction
from toolkit.release.manifest import PackageManifest, run_record_deps, verify_dir_entries
from toolkit.release.tags import ReleaseTag, iter_release_tags

TAG_REFSPEC = "+refs/tags/*:refs/tags/*"
# Data repos: every branch and tag, so the commit a run record names is there.
DATA_REFSPECS = ["+refs/heads/*:refs/heads/*", TAG_REFSPEC]


@dataclass
class SyncReport:
    remote_id: int
    url: str
    seen: int = 0  # new or moved release tags found by this sync
    versions: list[str] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "remote_id": self.remote_id,
            "url": self.url,
            "seen": self.seen,
            "versions": self.versions,
            "channels": self.channels,
            "ignored": self.ignored,
            "errors": self.errors,
        }


def registry_package_name(artifact: str) -> str:
    """GTO names may hold '/' and 'dir:' prefixes; registry names use '.' in their place."""
    return artifact.replace(":", ".").replace("/", ".")


def mirror_dir(home: Path, remote: GitRemote) -> Path:
    digest = hashlib.sha256(remote.url.encode()).hexdigest()[:12]
    return home / "mirrors" / f"{remote.id}-{digest}.git"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One sync per mirror at a time (webhook and poll may overlap); other processes wait."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def fetch_mirror(path: Path, url: str, refspecs: list[str] | None = None) -> pygit2.Repository:
    """Fetch every tag of ``url`` into a bare mirror; the caller holds the mirror's lock."""
    if (path / "HEAD").exists():
        repo = pygit2.Repository(str(path))
        # We hold the mirror's exclusive lock, so any libgit2 lock file is left over from a killed sync.
        for stale in path.rglob("*.lock"):
            stale.unlink(missing_ok=True)
    else:
        repo = pygit2.init_repository(str(path), bare=True)
    if "origin" not in repo.remotes.names():
        repo.remotes.create("origin", url)
    elif repo.remotes["origin"].url != url:
        repo.remotes.set_url("origin", url)
    try:
        repo.remotes["origin"].fetch(refspecs or [TAG_REFSPEC])
    except pygit2.GitError as exc:
        raise ReleaseError(f"cannot fetch tags from {url}: {str(exc).splitlines()[0]}") from exc
    return repo


class _Context:
    """Per-sync caches: one dvc.lock/tree scan per commit, one fetch per data repo, however many tags."""

    def __init__(self, repo: pygit2.Repository, project: str, home: Path, policy: Policy | None = None) -> None:
        self.repo = repo
        self.project = project
        self.home = home
        self.policy = policy or Policy.from_settings()
        self._scans: dict[str, CommitScan] = {}
        self._data_repos: dict[str, pygit2.Repository | None] = {}
        self._dataset_sidecars: dict[tuple[str, str, str], list[tuple[str, dict[str, Any]]]] = {}

    def scan(self, commit: str) -> CommitScan:
        if commit not in self._scans:
            self._scans[commit] = scan_commit(self.repo, commit)
        return self._scans[commit]

    def _data_repo(self, url: str) -> pygit2.Repository | None:
        if url not in self._data_repos and not self.policy.remote_allows(url):
            self._data_repos[url] = None  # a repo named by a tag message is fetched only if an admin allows it
        if url not in self._data_repos:
            path = self.home / "mirrors" / f"data-{hashlib.sha256(url.encode()).hexdigest()[:12]}.git"
            try:
                with _locked(path.with_suffix(".lock")):
                    self._data_repos[url] = fetch_mirror(path, url, DATA_REFSPECS)
            except PitlaneError:
                self._data_repos[url] = None  # unreachable data repo: the dataset stays a leaf of the trace
        return self._data_repos[url]

    def dataset_sidecars(self, source: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """Slice sidecars of a run record's dataset (data repo + commit + path), read from the data repo's Git."""
        url, commit, path = source.get("repo"), source.get("commit"), source.get("path")
        if not (isinstance(url, str) and isinstance(commit, str) and isinstance(path, str) and url and commit):
            return []
        key = (url, commit, path.strip("/"))
        if key not in self._dataset_sidecars:
            repo = self._data_repo(url)
            found: list[tuple[str, dict[str, Any]]] = []
            if repo is not None and commit in repo:
                scan = scan_commit(repo, commit)
                prefix = key[2]
                found = [(p, sc) for p, sc in scan.sidecars.items() if p == prefix or p.startswith(prefix + "/")]
            self._dataset_sidecars[key] = found
        return self._dataset_sidecars[key]

    def prepare(self, tag: ReleaseTag) -> None:
        """Fetch what a version's lineage needs before its database transaction opens (no lock held meanwhile)."""
        if tag.parsed.action is not TagAction.REGISTER:
            return
        try:
            manifest = PackageManifest.from_message(tag.message)
        except PitlaneError:
            return  # settled (as an error) inside the transaction
        for source in _dataset_sources(manifest):
            self.dataset_sidecars(source)


def _dataset_sources(manifest: PackageManifest) -> list[dict[str, Any]]:
    data = manifest.run.summary.get("data") if manifest.run else None
    sources = data.get("sources") if isinstance(data, dict) else None
    return [s for s in sources.values() if isinstance(s, dict)] if isinstance(sources, dict) else []


def _object_url(scan: CommitScan, md5: str, hash_name: str) -> str:
    remote = scan.remote
    if remote is None:
        raise ReleaseError("no DVC remote in .dvc/config at the tagged commit")
    head, rest = md5[:2], md5[2:]
    parts = ["files", "md5", head, rest] if hash_name == "md5" else [head, rest]
    return "/".join([remote.url.rstrip("/"), *parts])


def _files(manifest: PackageManifest, scan: CommitScan, tag: str, policy: Policy) -> list[pkgs.FileSpec]:
    """File specs whose locations come from the commit's DVC remote, each inside the admin's allowed storage."""
    specs = _tag_files(manifest, scan, tag)
    for spec in specs:
        policy.check_storage(spec.url, f"{tag}: DVC remote object of {spec.path!r}")
    return specs


def _tag_files(manifest: PackageManifest, scan: CommitScan, tag: str) -> list[pkgs.FileSpec]:
    specs: list[pkgs.FileSpec] = []
    for f in manifest.files:
        recorded = scan.outs.get(f.path)
        if recorded is None or recorded.md5 != f.md5:
            found = recorded.md5 if recorded else "nothing"
            raise ReleaseError(f"{tag}: manifest lists {f.path} md5 {f.md5}, but DVC at the commit records {found}")
        if f.md5.endswith(".dir"):
            if not verify_dir_entries(f):
                raise ReleaseError(f"{tag}: the listed files of {f.path} do not hash to {f.md5}")
            for e in f.entries or []:
                url = _object_url(scan, e.md5, f.hash)
                specs.append(pkgs.FileSpec(f"{f.path}/{e.relpath}", e.md5, e.size or 0, url))
        else:
            specs.append(pkgs.FileSpec(f.path, f.md5, f.size or 0, _object_url(scan, f.md5, f.hash)))
    return specs


def _lineage(
    session: Session, version: PackageVersion, manifest: PackageManifest, scan: CommitScan, ctx: _Context
) -> None:
    deps: dict[tuple[str, str], VersionDep] = {}
    for stage, stage_deps in scan.lock.deps.items():
        for d in stage_deps:
            deps[(d.path, d.md5)] = VersionDep(version_id=version.id, path=d.path, md5=d.md5, stage=stage, size=d.size)
    for m in manifest.deps:
        deps.setdefault(
            (m.path, m.md5), VersionDep(version_id=version.id, path=m.path, md5=m.md5, stage=m.stage or "", size=m.size)
        )
    for path, md5, origin in run_record_deps(manifest.run.summary) if manifest.run else []:
        deps.setdefault((path, md5), VersionDep(version_id=version.id, path=path, md5=md5, stage=origin))
    session.add_all(deps.values())
    dep_paths = {path for path, _ in deps}
    dep_md5s = {md5 for _, md5 in deps}
    sources: dict[tuple[str, str], BagSource] = {}
    for slice_path, sidecar in scan.sidecars.items():
        out = scan.outs.get(slice_path)
        slice_md5 = out.md5 if out else None
        used = (
            slice_path in dep_paths
            or any(slice_path.startswith(p + "/") for p in dep_paths)
            or (slice_md5 is not None and slice_md5 in dep_md5s)
        )
        if not used:
            continue
        for source_path, source_md5 in sidecar_sources(sidecar):
            detail = {k: sidecar[k] for k in ("start_ns", "end_ns", "topics", "tool_version") if k in sidecar}
            sources[(slice_path, source_md5)] = BagSource(
                version_id=version.id,
                slice_path=slice_path,
                slice_md5=slice_md5,
                source_path=source_path,
                source_md5=source_md5,
                detail=detail,
            )
    for source in _dataset_sources(manifest):
        for slice_path, sidecar in ctx.dataset_sidecars(source):
            slice_md5 = source.get("md5") if slice_path == str(source.get("path", "")).strip("/") else None
            for source_path, source_md5 in sidecar_sources(sidecar):
                where = f"{source['repo']}:{slice_path}"  # a path in the data repo, not in this one
                sources[(where, source_md5)] = BagSource(
                    version_id=version.id,
                    slice_path=where,
                    slice_md5=slice_md5 if isinstance(slice_md5, str) else None,
                    source_path=source_path,
                    source_md5=source_md5,
                    detail={"repo": source["repo"], "commit": source["commit"]},
                )
    session.add_all(sources.values())
    session.flush()


def _principal(tag: ReleaseTag) -> Principal:
    # Anyone who can push a tag writes its tagger line: the name says it is a claim, not an identity.
    who = tag.tagger_email or tag.tagger_name or "unknown"
    return pkgs.system_principal(f"git-unverified:{who}"[:100])


def _apply_version(session: Session, ctx: _Context, tag: ReleaseTag) -> str:
    parsed = tag.parsed
    manifest = PackageManifest.from_message(tag.message)
    if manifest.name != parsed.name or manifest.version != parsed.version:
        raise ReleaseError(f"{parsed.tag}: manifest is for {manifest.name}@{manifest.version}")
    if manifest.commit != tag.commit:
        raise ReleaseError(
            f"{parsed.tag}: manifest names commit {manifest.commit[:12]}, tag points at {tag.commit[:12]}"
        )
    scan = ctx.scan(tag.commit)
    files = _files(manifest, scan, parsed.tag, ctx.policy)
    result = pkgs.publish_version(
        session,
        _principal(tag),
        project=ctx.project,
        package=registry_package_name(parsed.name),
        version=str(parsed.version),
        files=files,
        commit=tag.commit,
        tag=parsed.tag,
        manifest=manifest.model_dump(mode="json", by_alias=True),
    )
    if result.created:
        _lineage(session, result.version, manifest, scan, ctx)
    return f"{ctx.project}/{registry_package_name(parsed.name)}@{parsed.version}"


def _stage_version(session: Session, ctx: _Context, tag: ReleaseTag) -> tuple[Any, str]:
    """The package and the version a stage tag means: named in its message, else the newest at its commit."""
    actor = _principal(tag)
    package = pkgs.get_package(session, actor, ctx.project, registry_package_name(tag.parsed.name))
    try:
        named = json.loads(tag.message).get("version")
    except (json.JSONDecodeError, AttributeError):
        named = None
    if isinstance(named, str):
        return package, named
    rows = (
        session.execute(
            select(PackageVersion).where(PackageVersion.package_id == package.id, PackageVersion.commit == tag.commit)
        )
        .scalars()
        .all()
    )
    if not rows:
        raise NotFoundError(f"{tag.parsed.tag}: no version of {tag.parsed.name} at commit {tag.commit[:12]}")
    return package, pkgs.sort_versions(rows)[0].version


def _check_unprotected(session: Session, ctx: _Context, tag: ReleaseTag) -> None:
    """Anyone who can push tags can write a stage tag, so protected channels move only in the registry."""
    project = session.execute(select(Project).where(Project.name == ctx.project)).scalar_one()
    stage = str(tag.parsed.stage)
    if stage in (project.protected_channels or []):
        raise PermissionDeniedError(
            f"{tag.parsed.tag}: {stage} is a protected channel of {ctx.project}; a maintainer assigns it in the "
            f"registry (pitlane package channel {ctx.project}/{registry_package_name(tag.parsed.name)} VERSION {stage})"
        )


def _apply(session: Session, ctx: _Context, tag: ReleaseTag) -> tuple[str, str]:
    """Settle one tag; returns (outcome, detail)."""
    action = tag.parsed.action
    if action is TagAction.REGISTER:
        return "version", _apply_version(session, ctx, tag)
    if action in (TagAction.ASSIGN, TagAction.UNASSIGN):
        _check_unprotected(session, ctx, tag)
    if action is TagAction.ASSIGN:
        package, version = _stage_version(session, ctx, tag)
        pkgs.set_channel(session, _principal(tag), package, str(tag.parsed.stage), version)
        return "stage", f"{package.name}#{tag.parsed.stage} -> {version}"
    if action is TagAction.UNASSIGN:
        package, version = _stage_version(session, ctx, tag)
        current = session.execute(
            select(PackageVersion.version)
            .join(Channel, Channel.version_id == PackageVersion.id)
            .where(Channel.package_id == package.id, Channel.name == tag.parsed.stage)
        ).scalar_one_or_none()
        if current != version:
            return "ignored", f"{tag.parsed.stage} does not point at {version}"
        pkgs.remove_channel(session, _principal(tag), package, str(tag.parsed.stage))
        return "stage", f"{package.name}#{tag.parsed.stage} removed"
    if action is TagAction.DEREGISTER:
        actor = _principal(tag)
        package = pkgs.get_package(session, actor, ctx.project, registry_package_name(tag.parsed.name))
        pkgs.deprecate_version(
            session, actor, package, str(tag.parsed.version), reason=f"deregistered by {tag.parsed.tag}"
        )
        return "version", f"{package.name}@{tag.parsed.version} deregistered"
    return "ignored", f"{action.value} tags carry no registry state"


def _order(tags: list[ReleaseTag]) -> list[ReleaseTag]:
    """Versions first (so stage tags find them), then everything else in GTO's counter/time order."""

    def key(t: ReleaseTag) -> tuple[int, Any, int]:
        return (0 if t.parsed.action is TagAction.REGISTER else 1, t.created_at, t.parsed.counter or 0)

    return sorted(tags, key=key)


def _record(session: Session, remote_id: int, tag: ReleaseTag, outcome: str, detail: str) -> None:
    row = session.execute(
        select(SyncedTag).where(SyncedTag.remote_id == remote_id, SyncedTag.name == tag.parsed.tag)
    ).scalar_one_or_none()
    if row is None:
        session.add(
            SyncedTag(
                remote_id=remote_id,
                name=tag.parsed.tag,
                tag_oid=tag.tag_oid,
                commit=tag.commit,
                outcome=outcome,
                detail=detail[:2000],
            )
        )
    else:
        row.tag_oid, row.commit, row.outcome, row.detail = tag.tag_oid, tag.commit, outcome, detail[:2000]
    session.flush()


def settle_tag(db: Database, ctx: _Context, remote_id: int, tag: ReleaseTag, report: SyncReport) -> None:
    ctx.prepare(tag)
    try:
        with db.transaction() as session:
            outcome, detail = _apply(session, ctx, tag)
            _record(session, remote_id, tag, outcome, detail)
    except IntegrityError:
        # A concurrent sync (another process) settled this tag first: its row stands. Anything else is a bug.
        with db.transaction(write=False) as session:
            settled = session.execute(
                select(SyncedTag.id).where(SyncedTag.remote_id == remote_id, SyncedTag.name == tag.parsed.tag)
            ).first()
        if settled is None:
            raise
        return
    except PitlaneError as exc:
        outcome, detail = "error", str(exc)
        with db.transaction() as session:
            _record(session, remote_id, tag, outcome, detail)
    buckets = {"version": report.versions, "stage": report.channels, "ignored": report.ignored}
    buckets.get(outcome, report.errors).append(detail)


def sync_remote(db: Database, remote_id: int, home: Path, policy: Policy | None = None) -> SyncReport:
    """Fetch one remote's tags and settle the new ones; safe to run concurrently and to kill."""
    policy = policy or Policy.from_settings()
    with db.transaction(write=False) as session:
        remote = session.get(GitRemote, remote_id)
        if remote is None:
            raise NotFoundError(f"remote {remote_id} not found")
        project = session.get(Project, remote.project_id)
        assert project is not None
        project_name, url = project.name, remote.url
        mirror = mirror_dir(home, remote)
    report = SyncReport(remote_id, url)
    with _locked(mirror.with_suffix(".lock")):
        try:
            policy.check_remote(url, "remote")  # again at fetch: the allowlist may have shrunk since registration
            repo = fetch_mirror(mirror, url)
        except PitlaneError as exc:
            _mark(db, remote_id, str(exc))
            raise
        with db.transaction(write=False) as session:
            known = dict(
                session.execute(select(SyncedTag.name, SyncedTag.tag_oid).where(SyncedTag.remote_id == remote_id)).all()
            )
        tags = _order(list(iter_release_tags(repo, known)))
        report.seen = len(tags)
        ctx = _Context(repo, project_name, home, policy)
        for tag in tags:
            settle_tag(db, ctx, remote_id, tag, report)
    _mark(db, remote_id, "; ".join(report.errors[:3]) or None)
    return report


def _mark(db: Database, remote_id: int, error: str | None) -> None:
    with db.transaction() as session:
        remote = session.get(GitRemote, remote_id)
        if remote is not None:
            remote.last_synced_at = utcnow()
            remote.last_error = error


def sync_all(db: Database, home: Path, policy: Policy | None = None) -> list[SyncReport]:
    with db.transaction(write=False) as session:
        ids = list(session.execute(select(GitRemote.id).order_by(GitRemote.id)).scalars())
    reports = []
    for remote_id in ids:
        try:
            reports.append(sync_remote(db, remote_id, home, policy))
        except PitlaneError as exc:
            report = SyncReport(remote_id, "")
            report.errors.append(str(exc))
            reports.append(report)
    return reports


def main(argv: list[str] | None = None) -> None:
    """``python -m registry.sync [--every SECONDS]``: poll every registered remote once, or forever."""
    import argparse
    import time

    from registry.core.config import get_settings
    from registry.core.migrate import upgrade

    parser = argparse.ArgumentParser(prog="python -m registry.sync", description=main.__doc__)
    parser.add_argument("--every", type=float, default=0, help="poll again every N seconds (0: once)")
    args = parser.parse_args(argv)
    settings = get_settings()
    db = Database(settings.effective_database_url)
    upgrade(db.engine)
    try:
        while True:
            for report in sync_all(db, settings.home):
                print(json.dumps(report.as_dict()), flush=True)
            if args.every <= 0:
                break
            time.sleep(args.every)
    except KeyboardInterrupt:
        pass
    finally:
        db.dispose()


if __name__ == "__main__":
    main()
