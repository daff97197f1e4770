"""Registered Git remotes per project: what the sync polls and the webhook matches."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.core.policy import Policy
from registry.core.security import Action, Principal
from registry.models import Project
from registry.models_links import GitRemote, SyncedTag
from registry.services.access import authorize_project, get_project
from registry.services.audit import record_audit
from toolkit.errors import ConflictError, NotFoundError, UserError

_URL_RE = re.compile(r"^(?:(?:https?|ssh|git|file)://\S+|[\w.-]+@[\w.-]+:\S+|/\S+)$")


def normalize_url(url: str) -> str:
    """The same repository however it is spelled: no trailing slash or '.git', host lower-cased."""
    text = url.strip().rstrip("/")
    text = text.removesuffix(".git")
    if m := re.fullmatch(r"[\w.-]+@([\w.-]+):(.+)", text):  # scp-like git@host:owner/repo
        return f"{m[1].lower()}/{m[2]}"
    if "://" in text:
        scheme, rest = text.split("://", 1)
        host, _, path = rest.partition("/")
        host = host.rsplit("@", 1)[-1].lower()
        return f"{host}/{path}" if scheme != "file" else f"/{path}"
    return text


def register_remote(
    session: Session, actor: Principal, project_name: str, url: str, policy: Policy | None = None
) -> GitRemote:
    project = get_project(session, actor, project_name)
    authorize_project(actor, project, Action.packages_manage)
    if not _URL_RE.fullmatch(url.strip()):
        raise UserError(f"invalid Git URL {url!r}: use https://, ssh://, git@host:path, file:// or an absolute path")
    url = url.strip()
    (policy or Policy.from_settings()).check_remote(url)
    wanted = normalize_url(url)
    for existing in session.execute(select(GitRemote).where(GitRemote.project_id == project.id)).scalars():
        if normalize_url(existing.url) == wanted:
            raise ConflictError(f"{url} is already registered for project {project.name}")
    remote = GitRemote(project_id=project.id, url=url, created_by=actor.actor)
    session.add(remote)
    session.flush()
    record_audit(session, actor.actor, "remote.register", f"project:{project.name}", None, {"url": url})
    return remote


def list_remotes(session: Session, actor: Principal, project_name: str) -> list[GitRemote]:
    project = get_project(session, actor, project_name)
    authorize_project(actor, project, Action.packages_read)
    stmt = select(GitRemote).where(GitRemote.project_id == project.id).order_by(GitRemote.id)
    return list(session.execute(stmt).scalars())


def get_remote(session: Session, actor: Principal, remote_id: int, action: Action) -> tuple[GitRemote, Project]:
    remote = session.get(GitRemote, remote_id)
    if remote is None:
        raise NotFoundError(f"remote {remote_id} not found")
    project = session.get(Project, remote.project_id)
    assert project is not None
    authorize_project(actor, project, action)
    return remote, project


def remotes_for_url(session: Session, urls: list[str]) -> list[GitRemote]:
    """Every registered remote that is one of these URLs (a webhook names several spellings)."""
    wanted = {normalize_url(u) for u in urls if u}
    rows = session.execute(select(GitRemote)).scalars()
    return [r for r in rows if normalize_url(r.url) in wanted]


def synced_tags(session: Session, remote_id: int, limit: int = 200) -> list[SyncedTag]:
    stmt = select(SyncedTag).where(SyncedTag.remote_id == remote_id).order_by(SyncedTag.id.desc()).limit(limit)
    return list(session.execute(stmt).scalars())
