"""Lineage pages: /trace (any subject) and the lineage block of the package page.

The package page (pages.py) includes ``package_lineage.html``; that template
calls the ``package_trace`` global registered here, so the block is rendered
on the server from the same service the API uses.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from registry.api.deps import CurrentPrincipal, SessionDep
from registry.api.errors import status_of
from registry.core.security import Principal
from registry.schemas_links import TraceOut
from registry.services import lineage
from registry.web.pages import render, templates
from toolkit.errors import PitlaneError

router = APIRouter(include_in_schema=False)


def package_trace(
    request: Request, principal: Principal | None, project: str, name: str, version: str
) -> TraceOut | None:
    """The lineage of one version for the package page; None when there is nothing to show."""
    if principal is None:
        return None
    with request.app.state.db.transaction(write=False) as session:
        try:
            return lineage.trace(session, principal, f"package:{project}/{name}@{version}")
        except PitlaneError:
            return None


templates.env.globals["package_trace"] = package_trace


@router.get("/trace", response_class=HTMLResponse)
def trace_page(request: Request, principal: CurrentPrincipal, session: SessionDep, subject: str = "") -> HTMLResponse:
    context: dict[str, Any] = {"section": "packages", "subject": subject, "trace": None, "error": None}
    status = 200
    if subject:
        try:
            context["trace"] = lineage.trace(session, principal, subject.strip())
        except PitlaneError as exc:
            # Shown next to the form: a typo should not cost the user the page.
            context["error"], status = str(exc), status_of(exc)
    return render(request, "trace.html", context, status=status, principal=principal)
