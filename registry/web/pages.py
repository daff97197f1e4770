"""Server-rendered registry pages: login, packages, package detail, projects and access.

Browsers authenticate with an API token posted once to /login, which opens a
server-side session: the HttpOnly, SameSite=Strict cookie holds only its random
id, and logging out revokes it. Every state-changing form carries a CSRF token
derived from that id (double submit), so a third-party page can neither read
nor forge it; API writes authenticated by the cookie need it in X-CSRF-Token.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from registry.api.deps import CurrentPrincipal, SessionDep
from registry.core.config import SESSION_COOKIE
from registry.core.security import ROLE_ACTIONS, ROLE_ORDER, Action, Principal, csrf_token
from registry.services import access
from registry.services import packages as svc
from registry.services.tokens import close_web_session, open_web_session
from registry.web import safety
from toolkit.errors import AuthenticationError, PermissionDeniedError, PitlaneError

WEB = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(WEB / "templates"))
safety.install(templates.env)
router = APIRouter(include_in_schema=False)
COOKIE_MAX_AGE = 12 * 3600


def csrf_for(request: Request) -> str:
    cookie = request.cookies.get(SESSION_COOKIE)
    return csrf_token(cookie) if cookie else ""


def check_csrf(request: Request, submitted: str) -> None:
    expected = csrf_for(request)
    if not expected or not hmac.compare_digest(expected.encode(), submitted.encode()):
        raise PermissionDeniedError("the form expired or came from another site: reload the page and try again")


def render(
    request: Request, name: str, context: dict[str, Any], status: int = 200, principal: Principal | None = None
) -> HTMLResponse:
    ctx = {
        "principal": principal,
        "csrf": csrf_for(request),
        "flash": request.query_params.get("msg"),
        "flash_kind": "error" if request.query_params.get("kind") == "error" else "ok",
        **context,
    }
    return templates.TemplateResponse(request, name, ctx, status_code=status)


def html_error(request: Request, status: int, message: str) -> Response:
    """Error pages for browsers; a 401 is the login form (with the page to return to)."""
    if status == 401:
        nxt = request.url.path if request.method == "GET" else "/packages"
        return render(
            request,
            "login.html",
            {"message": message if request.cookies.get(SESSION_COOKIE) else "", "next": nxt},
            status=401,
        )
    titles = {403: "Not allowed", 404: "Not found"}
    return render(
        request,
        "error.html",
        {"status": status, "title": titles.get(status, "Error"), "message": message},
        status=status,
    )


def _back(path: str, message: str, *, error: bool = False) -> RedirectResponse:
    query = {"msg": message, **({"kind": "error"} if error else {})}
    return RedirectResponse(f"{path}?{urlencode(query)}", status_code=303)


def _safe_next(value: str) -> str:
    # Only local paths: an open redirect would turn the login form into a phishing tool.
    return value if value.startswith("/") and not value.startswith("//") and "\\" not in value else "/packages"


# --- session ----------------------------------------------------------------
@router.get("/", response_class=RedirectResponse)
def home() -> RedirectResponse:
    return RedirectResponse("/packages", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/packages") -> HTMLResponse:
    return render(request, "login.html", {"message": "", "next": _safe_next(next)})


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    token: Annotated[str, Form(max_length=500)],
    next: Annotated[str, Form(max_length=2000)] = "/packages",
) -> Response:
    try:
        secret = open_web_session(session, token.strip())
    except AuthenticationError as exc:
        return render(request, "login.html", {"message": f"login failed: {exc}", "next": _safe_next(next)}, status=401)
    response = RedirectResponse(_safe_next(next), status_code=303)
    # The cookie holds a session id, never the token; Secure when the request came over TLS (behind a proxy:
    # `pitlane serve --forwarded-allow-ips` makes uvicorn trust its X-Forwarded-Proto).
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=COOKIE_MAX_AGE,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep, csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    check_csrf(request, csrf)
    close_web_session(session, request.cookies.get(SESSION_COOKIE, ""))  # the id is dead even if a copy survives
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- packages ---------------------------------------------------------------
@router.get("/packages", response_class=HTMLResponse)
def packages_page(
    request: Request, principal: CurrentPrincipal, session: SessionDep, q: str | None = None
) -> HTMLResponse:
    from registry.api.routes.packages import package_out

    rows = [package_out(s) for s in svc.list_packages(session, principal, query=q or None)]
    return render(request, "packages.html", {"packages": rows, "q": q, "section": "packages"}, principal=principal)


def _evaluations(session: SessionDep, version_ids: dict[int, str]) -> dict[str, list[Any]]:
    from registry.models_links import Evaluation

    out: dict[str, list[Any]] = {}
    if not version_ids:
        return out
    stmt = select(Evaluation).where(Evaluation.version_id.in_(version_ids)).order_by(Evaluation.created_at)
    for e in session.execute(stmt).scalars():
        out.setdefault(version_ids[e.version_id], []).append(e)
    return out


def _deployments(session: SessionDep, version_ids: dict[int, str]) -> list[dict[str, str]]:
    from registry.models_links import Deployment, FirmwareImage, FirmwarePackage

    if not version_ids:
        return []
    stmt = (
        select(Deployment, FirmwareImage, FirmwarePackage.version_id)
        .join(FirmwareImage, FirmwareImage.id == Deployment.firmware_id)
        .join(FirmwarePackage, FirmwarePackage.firmware_id == FirmwareImage.id)
        .where(FirmwarePackage.version_id.in_(version_ids))
        .order_by(Deployment.deployed_at.desc())
        .limit(200)
    )
    return [
        {
            "vehicle": d.vehicle,
            "firmware": f"{fw.name}@{fw.version}",
            "version": version_ids[vid],
            "site": d.site,
            "when": d.deployed_at.strftime("%Y-%m-%d %H:%M"),
        }
        for d, fw, vid in session.execute(stmt).all()
    ]


@router.get("/packages/{project}/{name}", response_class=HTMLResponse)
def package_page(
    request: Request,
    project: str,
    name: str,
    principal: CurrentPrincipal,
    session: SessionDep,
    version: str | None = None,
) -> HTMLResponse:
    from registry.api.routes.packages import ChannelOut, package_out, version_out

    pkg = svc.get_package(session, principal, project, name)
    role = access.package_role(session, principal, pkg)
    summary = next(s for s in svc.list_packages(session, principal, project=project) if s.package.id == pkg.id)
    by_version: dict[str, list[str]] = {}
    channel_rows = []
    protected = list(pkg.project.protected_channels or [])
    for c, ver in svc.channels_of(session, pkg):
        by_version.setdefault(ver, []).append(c.name)
        channel_rows.append(
            ChannelOut(
                package=f"{project}/{name}",
                channel=c.name,
                version=ver,
                protected=c.name in protected,
                updated_at=c.updated_at,
                updated_by=c.updated_by,
            )
        )
    rows = svc.list_versions(session, principal, pkg)
    versions = [version_out(v, pkg, by_version.get(v.version)) for v in rows]
    ids = {v.id: v.version for v in rows}
    selected = next((v for v in versions if v.version == version), versions[0] if versions else None)
    allowed = ROLE_ACTIONS[role] if role else frozenset()
    context = {
        "section": "packages",
        "package": package_out(summary),
        "channels": channel_rows,
        "versions": versions,
        "selected": selected,
        "protected": protected,
        "evaluations": _evaluations(session, ids),
        "deployments": _deployments(session, ids),
        "can_write": Action.packages_write in allowed and principal.scope_allows(Action.packages_write),
        "can_manage": Action.packages_manage in allowed and principal.scope_allows(Action.packages_manage),
    }
    return render(request, "package.html", context, principal=principal)


@router.post("/packages/{project}/{name}/channel")
def assign_channel(
    request: Request,
    project: str,
    name: str,
    principal: CurrentPrincipal,
    session: SessionDep,
    csrf: Annotated[str, Form(max_length=200)],
    channel: Annotated[str, Form(max_length=100)],
    version: Annotated[str, Form(max_length=200)],
) -> Response:
    check_csrf(request, csrf)
    page = f"/packages/{quote(project, safe='')}/{quote(name, safe='')}"
    pkg = svc.get_package(session, principal, project, name)
    try:
        svc.set_channel(session, principal, pkg, channel.strip(), version)
    except PitlaneError as exc:
        session.rollback()
        return _back(page, str(exc), error=True)
    return _back(page, f"{channel.strip()} now points at {version}")


@router.post("/packages/{project}/{name}/deprecate")
def deprecate(
    request: Request,
    project: str,
    name: str,
    principal: CurrentPrincipal,
    session: SessionDep,
    csrf: Annotated[str, Form(max_length=200)],
    version: Annotated[str, Form(max_length=200)],
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    check_csrf(request, csrf)
    page = f"/packages/{quote(project, safe='')}/{quote(name, safe='')}"
    pkg = svc.get_package(session, principal, project, name)
    try:
        svc.deprecate_version(session, principal, pkg, version, reason)
    except PitlaneError as exc:
        session.rollback()
        return _back(page, str(exc), error=True)
    return _back(page, f"{version} deprecated")


# --- projects and access ----------------------------------------------------
@router.get("/projects", response_class=HTMLResponse)
def projects_page(request: Request, principal: CurrentPrincipal, session: SessionDep) -> HTMLResponse:
    from registry.api.routes.projects import project_out

    rows = []
    for p in access.list_projects(session, principal):
        role = principal.role_in(p.id)
        rows.append(project_out(p, role.value if role else None))
    return render(request, "projects.html", {"projects": rows, "section": "projects"}, principal=principal)


@router.get("/projects/{name}", response_class=HTMLResponse)
def project_page(request: Request, name: str, principal: CurrentPrincipal, session: SessionDep) -> HTMLResponse:
    from registry.api.routes.access import member_out
    from registry.api.routes.packages import package_out
    from registry.api.routes.projects import project_out

    p = access.get_project(session, principal, name)
    role = principal.role_in(p.id)
    members = [member_out(m, p.name) for m in access.list_members(session, principal, p)]
    pkgs = [package_out(s) for s in svc.list_packages(session, principal, project=p.name)]
    can_manage = (
        role is not None and Action.access_manage in ROLE_ACTIONS[role] and principal.scope_allows(Action.access_manage)
    )
    return render(
        request,
        "project.html",
        {
            "section": "projects",
            "project": project_out(p, role.value if role else None),
            "members": members,
            "packages": pkgs,
            "can_manage": can_manage,
            "roles": [r.value for r in ROLE_ORDER],
        },
        principal=principal,
    )


@router.post("/projects/{name}/members")
def grant_member(
    request: Request,
    name: str,
    principal: CurrentPrincipal,
    session: SessionDep,
    csrf: Annotated[str, Form(max_length=200)],
    user: Annotated[str, Form(max_length=100)],
    role: Annotated[str, Form(max_length=20)],
) -> Response:
    check_csrf(request, csrf)
    page = f"/projects/{quote(name, safe='')}"
    p = access.get_project(session, principal, name)
    try:
        access.grant_role(session, principal, p, user.strip(), role)
    except PitlaneError as exc:
        session.rollback()
        return _back(page, str(exc), error=True)
    return _back(page, f"{user.strip()} is now {role}")


def mount(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=str(WEB / "static")), name="static")
    app.include_router(router)


__all__ = ["csrf_for", "html_error", "mount", "render", "router", "templates"]
