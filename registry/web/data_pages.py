"""Server-rendered data pages: search (`/data?q=`) and bag overview (`/data/bags/{id}`).

Pure Jinja2 + inline SVG: the timeline is one row of bars per topic, the GNSS
track one SVG path; thumbnails are PNGs from a sibling route.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from registry.api.deps import CurrentPrincipal
from registry.api.routes.bags import DataRepoDep, bag_file, catalogued, require_data_read, thumbnail_response
from registry.web.pages import render
from registry.web.signal_plot import health_rows, signal_plot
from toolkit.bags.summary import BagSummary
from toolkit.data.search import SearchResponse, search
from toolkit.data.thumbnails import IMAGE_TYPES
from toolkit.data.timeline import Timeline, message_timeline
from toolkit.errors import NotFoundError, QueryError

router = APIRouter(tags=["data pages"], include_in_schema=False, dependencies=[Depends(require_data_read)])

TRACK_W, TRACK_H = 480, 320
TIMELINE_W, ROW_H = 600, 22


def track_path(summary: BagSummary) -> str | None:
    """SVG path data for the GNSS track, scaled into the track box (north up, aspect kept)."""
    if summary.gnss is None or len(summary.gnss.track) < 2:
        return None
    min_lat, min_lon, max_lat, max_lon = summary.gnss.bbox
    import math

    kx = math.cos(math.radians((min_lat + max_lat) / 2))
    span = max((max_lon - min_lon) * kx, max_lat - min_lat, 1e-9)
    pad = 10
    scale = (min(TRACK_W, TRACK_H) - 2 * pad) / span
    pts = [
        (pad + (lon - min_lon) * kx * scale, TRACK_H - pad - (lat - min_lat) * scale) for lat, lon in summary.gnss.track
    ]
    return "M " + " L ".join(f"{x:.1f},{y:.1f}" for x, y in pts)


def timeline_rows(tl: Timeline) -> list[dict[str, Any]]:
    rows = []
    bar_w = TIMELINE_W / tl.buckets if tl.buckets else 0
    for i, t in enumerate(tl.topics):
        peak = max(t.counts) if t.counts else 0
        bars = [
            {
                "x": round(j * bar_w, 2),
                "w": round(max(bar_w - 0.5, 0.5), 2),
                "h": round(c / peak * (ROW_H - 4), 2),
                "n": c,
            }
            for j, c in enumerate(t.counts)
            if c and peak
        ]
        rows.append({"topic": t.topic, "y": i * ROW_H, "bars": bars, "max_rate_hz": t.max_rate_hz})
    return rows


@router.get("/data", response_class=HTMLResponse)
def search_page(
    request: Request,
    repo: DataRepoDep,
    principal: CurrentPrincipal,
    q: str = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> Response:
    error: str | None = None
    resp = SearchResponse(query=q)
    try:
        resp = search(repo.catalog, q, limit=limit, root=repo.root)
    except QueryError as exc:
        error = str(exc)
    context = {"section": "data", "q": q, "resp": resp, "error": error}
    return render(request, "data_search.html", context, status=400 if error else 200, principal=principal)


@router.get("/data/bags/{bag_id}", response_class=HTMLResponse)
def bag_page(request: Request, repo: DataRepoDep, principal: CurrentPrincipal, bag_id: str) -> Response:
    sc = catalogued(repo, bag_id)
    s = sc.summary
    timeline: Timeline | None = None
    missing: str | None = None
    try:
        bag_file(repo, sc)
        timeline = message_timeline(s, repo.root)
    except NotFoundError as exc:
        missing = str(exc)  # the page still shows everything the sidecar knows
    cameras = [t.name for t in s.topics if t.type in IMAGE_TYPES and t.count] if missing is None else []
    context = {
        "section": "data",
        "sc": sc,
        "s": s,
        "tags": sc.all_tags(),
        "timeline": timeline,
        "rows": timeline_rows(timeline) if timeline else [],
        "timeline_w": TIMELINE_W,
        "row_h": ROW_H,
        "cameras": cameras,
        "track": track_path(s),
        "track_w": TRACK_W,
        "track_h": TRACK_H,
        "missing": missing,
        "signals": signal_plot(sc, repo.root),
        "health": health_rows(sc),
    }
    return render(request, "data_bag.html", context, principal=principal)


@router.get("/data/bags/{bag_id}/thumbnail.png")
def bag_thumbnail(
    repo: DataRepoDep, bag_id: str, topic: str, size: Annotated[int, Query(ge=16, le=1024)] = 320
) -> Response:
    return thumbnail_response(repo, bag_id, topic, size)
