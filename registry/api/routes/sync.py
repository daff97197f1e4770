"""Git remotes of a project and on-demand sync of their release tags."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status

from registry.api.deps import CurrentPrincipal, SessionDep
from registry.core.policy import policy_of
from registry.core.security import Action
from registry.models_links import GitRemote
from registry.schemas_links import RemoteIn, RemoteOut, SyncedTagOut, SyncReportOut
from registry.services import remotes
from registry.sync import sync_remote

router = APIRouter(tags=["sync"])
RemoteId = Annotated[int, Path(ge=1, le=2**62, description="id of a registered remote")]


def remote_out(r: GitRemote, project: str) -> RemoteOut:
    return RemoteOut(
        id=r.id,
        project=project,
        url=r.url,
        created_at=r.created_at,
        created_by=r.created_by,
        last_synced_at=r.last_synced_at,
        last_error=r.last_error,
    )


@router.post("/projects/{project}/remotes", response_model=RemoteOut, status_code=status.HTTP_201_CREATED)
def register_remote(
    project: str, body: RemoteIn, principal: CurrentPrincipal, session: SessionDep, request: Request
) -> RemoteOut:
    return remote_out(
        remotes.register_remote(session, principal, project, body.url, policy_of(request.app.state)), project
    )


@router.get("/projects/{project}/remotes", response_model=list[RemoteOut])
def list_remotes(project: str, principal: CurrentPrincipal, session: SessionDep) -> list[RemoteOut]:
    return [remote_out(r, project) for r in remotes.list_remotes(session, principal, project)]


@router.post("/remotes/{remote_id}/sync", response_model=SyncReportOut)
def sync(remote_id: RemoteId, request: Request, principal: CurrentPrincipal, session: SessionDep) -> SyncReportOut:
    """Fetch the remote's tags now and settle the new ones (what the webhook and the poller do)."""
    remotes.get_remote(session, principal, remote_id, Action.packages_write)
    # Release this request's write transaction: the sync writes one transaction per tag itself.
    session.commit()
    report = sync_remote(request.app.state.db, remote_id, request.app.state.settings.home, policy_of(request.app.state))
    return SyncReportOut(**report.as_dict())


@router.get("/remotes/{remote_id}/tags", response_model=list[SyncedTagOut])
def synced_tags(
    remote_id: RemoteId,
    principal: CurrentPrincipal,
    session: SessionDep,
    limit: int = Query(default=200, ge=1, le=5000),
) -> list[SyncedTagOut]:
    remotes.get_remote(session, principal, remote_id, Action.packages_read)
    return [
        SyncedTagOut(name=t.name, commit=t.commit, outcome=t.outcome, detail=t.detail, synced_at=t.synced_at)
        for t in remotes.synced_tags(session, remote_id, limit)
    ]
