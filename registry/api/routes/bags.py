"""Bag catalog API: search, one bag's sidecar, its message-rate timeline and camera thumbnails.

The catalog is a data repo's (``app.state.data_repo`` or ``PITLANE_DATA_REPO``);
its tables may equally live in the registry database (``CATALOG_METADATA``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.api.deps import CurrentPrincipal, SessionDep
from registry.core.security import Action, Principal
from registry.models import Project
from registry.services.access import authorize_project
from toolkit.data.api import DataRepo, SearchResult, Sidecar, search
from toolkit.data.thumbnails import thumbnail_png
from toolkit.data.timeline import DEFAULT_BUCKETS, Timeline, message_timeline
from toolkit.errors import NotFoundError

DATA_REPO_ENV = "PITLANE_DATA_REPO"


def data_project(request: Request) -> str | None:
    """The project the registry's data repo (and dataset repo) belongs to: app state, else PITLANE_DATA_PROJECT."""
    state: Any = request.app.state
    return getattr(state, "data_project", None) or getattr(getattr(state, "settings", None), "data_project", None)


def authorize_data(request: Request, session: Session, principal: Principal, action: Action) -> None:
    """Bags, datasets and the catalogue belong to a project: the same access layer as its packages.

    With no data project configured only registry admins read them; everyone else is told nothing exists.
    """
    name = data_project(request)
    project = session.execute(select(Project).where(Project.name == name)).scalar_one_or_none() if name else None
    if project is None:
        if principal.is_admin and principal.scope_allows(action):
            return
        raise NotFoundError("no data catalogue is visible to you on this registry")
    authorize_project(principal, project, action)


def require_data_read(request: Request, principal: CurrentPrincipal, session: SessionDep) -> None:
    authorize_data(request, session, principal, Action.data_read)


router = APIRouter(prefix="/bags", tags=["bags"], dependencies=[Depends(require_data_read)])


def get_data_repo(request: Request) -> DataRepo:
    """The app's data repo: ``app.state.data_repo`` (a path or DataRepo), else settings (PITLANE_DATA_REPO)."""
    state: Any = request.app.state
    repo = getattr(state, "data_repo", None) or getattr(getattr(state, "settings", None), "data_repo", None)
    if repo is None:
        raise NotFoundError(f"no data repo is configured for this registry (set {DATA_REPO_ENV})")
    if not isinstance(repo, DataRepo):
        repo = DataRepo.find(Path(repo))
        state.data_repo = repo  # one catalog engine per app, not per request
    return repo


DataRepoDep = Annotated[DataRepo, Depends(get_data_repo)]


def catalogued(repo: DataRepo, bag_id: str) -> Sidecar:
    sc = repo.catalog.get(bag_id)
    if sc is None:
        raise NotFoundError(f"no bag with id {bag_id}")
    return sc


def bag_file(repo: DataRepo, sc: Sidecar) -> Path:
    path = repo.abs_path(sc.path)
    if not path.exists():
        raise NotFoundError(f"{sc.path} is not checked out in the data repo (dvc pull)")
    return path


def thumbnail_response(repo: DataRepo, bag_id: str, topic: str, size: int) -> Response:
    sc = catalogued(repo, bag_id)
    info = sc.summary.topic(topic)
    if info is None:
        raise NotFoundError(f"{sc.path} has no topic {topic}")
    png = thumbnail_png(bag_file(repo, sc), topic, max_size=size)
    # Content-addressed: the same bag id always gives the same frame.
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=86400"})


@router.get("", response_model=list[SearchResult], summary="Search bags with the query language")
def search_bags(repo: DataRepoDep, q: str = "", limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[SearchResult]:
    return search(repo.catalog, q, limit=limit).results


@router.get("/{bag_id}", response_model=Sidecar, summary="One bag: summary, tags, lineage")
def get_bag(repo: DataRepoDep, bag_id: str) -> Sidecar:
    return catalogued(repo, bag_id)


@router.get("/{bag_id}/timeline", response_model=Timeline, summary="Messages per topic per time bucket")
def get_timeline(
    repo: DataRepoDep, bag_id: str, buckets: Annotated[int, Query(ge=1, le=1000)] = DEFAULT_BUCKETS
) -> Timeline:
    sc = catalogued(repo, bag_id)
    bag_file(repo, sc)
    return message_timeline(sc.summary, repo.root, buckets=buckets)


@router.get(
    "/{bag_id}/thumbnail",
    summary="First camera frame of a topic as a small PNG",
    responses={200: {"content": {"image/png": {}}}},
    response_class=Response,
)
def get_thumbnail(
    repo: DataRepoDep, bag_id: str, topic: str, size: Annotated[int, Query(ge=16, le=1024)] = 320
) -> Response:
    return thumbnail_response(repo, bag_id, topic, size)
