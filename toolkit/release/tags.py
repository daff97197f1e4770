"""Read annotated release tags with pygit2: names, targets and messages, no checkout."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pygit2

from toolkit.errors import NotFoundError, ReleaseError
from toolkit.release.grammar import ParsedTag, parse_tag

TAG_PREFIX = "refs/tags/"


@dataclass(frozen=True)
class ReleaseTag:
    parsed: ParsedTag
    tag_oid: str  # the annotated tag object
    commit: str  # the commit it points at (peeled)
    message: str
    tagger_name: str
    tagger_email: str
    created_at: datetime


def open_repo(path: Path) -> pygit2.Repository:
    try:
        return pygit2.Repository(str(path))
    except pygit2.GitError as exc:
        raise NotFoundError(f"not a Git repository: {path}") from exc


def tag_refs(repo: pygit2.Repository) -> dict[str, str]:
    """Every tag name -> the oid its ref points at (tag object or commit), cheap."""
    out: dict[str, str] = {}
    for ref in repo.references.iterator(pygit2.enums.ReferenceFilter.TAGS):
        target = ref.target
        if isinstance(target, pygit2.Oid):
            out[ref.name[len(TAG_PREFIX) :]] = str(target)
    return out


def read_tag(repo: pygit2.Repository, name: str, oid: str) -> ReleaseTag | None:
    """The release tag behind ``oid``; None for lightweight or non-release tags (GTO ignores those too)."""
    parsed = parse_tag(name)
    if parsed is None:
        return None
    obj = repo.get(oid)
    if not isinstance(obj, pygit2.Tag):
        return None
    try:
        commit = obj.peel(pygit2.Commit)
    except (pygit2.GitError, ValueError, KeyError):
        return None
    tagger = obj.tagger
    created = datetime.fromtimestamp(tagger.time, tz=UTC) if tagger else datetime.fromtimestamp(0, tz=UTC)
    return ReleaseTag(
        parsed=parsed,
        tag_oid=oid,
        commit=str(commit.id),
        message=obj.message or "",
        tagger_name=tagger.name if tagger else "",
        tagger_email=tagger.email if tagger else "",
        created_at=created,
    )


def iter_release_tags(repo: pygit2.Repository, known: Mapping[str, str] | None = None) -> Iterator[ReleaseTag]:
    """Release tags whose ref is new or moved since ``known`` (name -> oid)."""
    known = known or {}
    for name, oid in tag_refs(repo).items():
        if known.get(name) == oid:
            continue
        tag = read_tag(repo, name, oid)
        if tag is not None:
            yield tag


def read_blob_at(repo: pygit2.Repository, commit: str, path: str) -> bytes | None:
    """A file's bytes at a commit, straight from the object store; None when absent."""
    try:
        tree = repo.get(commit).peel(pygit2.Tree)  # type: ignore[union-attr]
        entry = tree[path]
    except (KeyError, ValueError, AttributeError, pygit2.GitError):
        return None
    blob = repo.get(entry.id)
    if not isinstance(blob, pygit2.Blob):
        return None
    return bytes(blob.data)


def require_commit(repo: pygit2.Repository, rev: str) -> str:
    try:
        return str(repo.revparse_single(rev).peel(pygit2.Commit).id)
    except (KeyError, ValueError, pygit2.GitError) as exc:
        raise ReleaseError(f"no commit at {rev!r}") from exc
