"""Datasets: JSON API (``/api/v1/datasets``) and server-rendered pages (``/datasets``).

Datasets live in a Git repo as version tags ``NAME@vN`` plus ``manifest.json``
at each tag (see toolkit.datasets.versions): the repo is ``app.state.dataset_repo``,
``PITLANE_DATASET_REPO``, or else the registry's data repo. Manifests are read
from Git at the tag, frame files from the working tree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel

from registry.api.routes.bags import require_data_read
from registry.web import safety
from toolkit.datasets import manifest as mf
from toolkit.datasets import versions as vs
from toolkit.datasets.report import DatasetListing, DatasetStats, list_datasets, stats
from toolkit.datasets.thumbs import frame_thumbnail
from toolkit.errors import NotFoundError

DATASET_REPO_ENV = "PITLANE_DATASET_REPO"
PAGE_SIZE = 48
THUMB = 256

router = APIRouter(prefix="/datasets", tags=["datasets"], dependencies=[Depends(require_data_read)])
pages = APIRouter(tags=["dataset pages"], include_in_schema=False, dependencies=[Depends(require_data_read)])
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parents[2] / "web" / "templates"))
safety.install(templates.env)


def get_dataset_repo(request: Request) -> Path:
    state: Any = request.app.state
    repo = getattr(state, "dataset_repo", None) or getattr(getattr(state, "settings", None), "dataset_repo", None)
    if repo is None:
        from registry.api.routes.bags import get_data_repo

        return get_data_repo(request).root
    return vs.repo_root(Path(repo))


RepoDep = Annotated[Path, Depends(get_dataset_repo)]


class VersionOut(BaseModel):
    tag: str
    version: int
    commit: str
    digest: str
    frames: int
    date: str


class DatasetOut(BaseModel):
    name: str
    path: str
    versions: list[VersionOut]
    stats: DatasetStats
    lineage: list[mf.LineageEntry]


def _load(repo: Path, name: str, version: int | None) -> tuple[vs.VersionInfo, list[vs.VersionInfo], mf.Manifest]:
    history = vs.list_versions(repo, name)
    if not history:
        raise NotFoundError(f"dataset {name!r} not found")
    info = history[-1] if version is None else next((v for v in history if v.version == version), None)
    if info is None:
        raise NotFoundError(f"dataset version {name}@v{version} not found")
    return info, history, vs.read_manifest_at(repo, info)


def _versions(history: list[vs.VersionInfo]) -> list[VersionOut]:
    return [
        VersionOut(tag=v.tag, version=v.version, commit=v.commit, digest=v.digest, frames=v.frames, date=v.date)
        for v in history
    ]


@router.get("", response_model=list[DatasetListing], summary="Datasets and their latest versions")
def api_list(repo: RepoDep) -> list[DatasetListing]:
    return list_datasets(repo)


@router.get("/{name}", response_model=DatasetOut, summary="A dataset version: stats, versions, lineage")
def api_get(repo: RepoDep, name: str, version: Annotated[int | None, Query(ge=1)] = None) -> DatasetOut:
    info, history, manifest = _load(repo, name, version)
    return DatasetOut(
        name=name, path=info.path, versions=_versions(history), stats=stats(manifest), lineage=manifest.lineage
    )


@router.get("/{name}/manifest", response_model=mf.Manifest, summary="The full manifest of a version")
def api_manifest(repo: RepoDep, name: str, version: Annotated[int | None, Query(ge=1)] = None) -> mf.Manifest:
    return _load(repo, name, version)[2]


def thumbnail(repo: Path, name: str, frame_id: str, version: int | None, size: int) -> Response:
    info, _, manifest = _load(repo, name, version)
    frame = manifest.frame_index().get(frame_id)
    if frame is None:
        raise NotFoundError(f"frame {frame_id} is not in {info.tag}")
    path = repo / info.path / frame.path
    if not path.is_file():
        raise NotFoundError(f"{info.path}/{frame.path} is not in the working tree (run `dvc pull`)")
    png = frame_thumbnail(repo / info.path, frame, size)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


@router.get("/{name}/frames/{frame_id}/thumbnail", summary="A frame preview (PNG; point clouds top-down)")
def api_thumbnail(
    repo: RepoDep,
    name: str,
    frame_id: str,
    version: Annotated[int | None, Query(ge=1)] = None,
    size: Annotated[int, Query(ge=16, le=1024)] = THUMB,
) -> Response:
    return thumbnail(repo, name, frame_id, version, size)


# --- pages ---------------------------------------------------------------------
@pages.get("/datasets", response_class=HTMLResponse)
def list_page(request: Request, repo: RepoDep) -> Response:
    return templates.TemplateResponse(
        request, "dataset_list.html", {"section": "datasets", "datasets": list_datasets(repo)}
    )


def _boxes(frame: mf.Frame) -> list[dict[str, Any]]:
    out = []
    for kind, labels in (("label", frame.labels), ("prediction", frame.predictions)):
        for lab in labels:
            if lab.bbox is not None:
                out.append(
                    {
                        "kind": kind,
                        "label": lab.label,
                        "score": lab.score,
                        "x": lab.bbox.x,
                        "y": lab.bbox.y,
                        "w": lab.bbox.w,
                        "h": lab.bbox.h,
                    }
                )
    return out


@pages.get("/datasets/{name}", response_class=HTMLResponse)
def dataset_page(
    request: Request,
    repo: RepoDep,
    name: str,
    version: Annotated[int | None, Query(ge=1)] = None,
    split: str = "",
    topic: str = "",
    label: str = "",
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    info, history, manifest = _load(repo, name, version)
    frames = [
        f
        for f in manifest.frames
        if (not split or f.split == split)
        and (not topic or f.topic == topic)
        and (not label or any(lab.label == label for lab in (*f.labels, *f.predictions)))
    ]
    pages_total = max(1, -(-len(frames) // PAGE_SIZE))
    shown = frames[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    grid = [
        {"frame": f, "boxes": _boxes(f), "tags": [lab.label for lab in (*f.labels, *f.predictions) if lab.bbox is None]}
        for f in shown
    ]
    context = {
        "section": "datasets",
        "name": name,
        "info": info,
        "history": history,
        "manifest": manifest,
        "stats": stats(manifest),
        "grid": grid,
        "matching": len(frames),
        "page": page,
        "pages_total": pages_total,
        "split": split,
        "topic": topic,
        "label": label,
        "thumb": THUMB,
    }
    return templates.TemplateResponse(request, "dataset_page.html", context)


@pages.get("/datasets/{name}/frames/{frame_id}/thumbnail.png")
def page_thumbnail(
    repo: RepoDep,
    name: str,
    frame_id: str,
    version: Annotated[int | None, Query(ge=1)] = None,
    size: Annotated[int, Query(ge=16, le=1024)] = THUMB,
) -> Response:
    return thumbnail(repo, name, frame_id, version, size)
