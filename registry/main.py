"""The registry app factory.

``create_app()`` serves PITLANE_DATABASE_URL (SQLite in PITLANE_HOME by
default), migrating it to the newest schema first. ``embedded_user`` is for
the in-process client only: requests without credentials then act as that
local admin, which is safe because no socket is ever opened for that app.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI

from registry.api import errors
from registry.api.deps import get_principal
from registry.api.middleware import BodyLimit, SecurityHeaders
from registry.api.routes import (
    access,
    audit,
    bags,
    deployments,
    evaluations,
    firmware,
    health,
    lineage,
    packages,
    projects,
    sync,
    tokens,
    webhooks,
)
from registry.core.config import API_PREFIX, Settings, get_settings
from registry.core.db import Database
from registry.core.migrate import upgrade
from registry.core.policy import Policy
from registry.services.access import ensure_user
from toolkit import __version__


def create_app(
    settings: Settings | None = None, *, embedded_user: str | None = None, database_url: str | None = None
) -> FastAPI:
    settings = settings or get_settings()
    db = Database(database_url or settings.effective_database_url)
    upgrade(db.engine)
    if embedded_user:
        with db.transaction() as session:
            ensure_user(session, embedded_user, is_admin=True)

    app = FastAPI(
        title="Pitlane registry",
        version=__version__,
        description="Versioned, permissioned ML packages resolved from Git tags. Every route but health needs "
        '`Authorization: Bearer <token>`. Errors are `{"error": {"code", "message"}}`.',
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.db = db
    app.state.settings = settings
    app.state.embedded_user = embedded_user
    app.state.policy = Policy.from_settings(settings, embedded=bool(embedded_user))

    from registry.web import pages

    errors.install(app, html_error=pages.html_error)

    public = APIRouter(prefix=API_PREFIX)
    public.include_router(health.router)
    public.include_router(packages.resolve_router)  # authenticates inline (hot path)
    public.include_router(webhooks.router)  # authenticated by its HMAC signature, not a token
    app.include_router(public)

    api = APIRouter(prefix=API_PREFIX, dependencies=[Depends(get_principal)])
    for module in (projects, access, packages, tokens, audit, bags, sync, evaluations, firmware, deployments, lineage):
        api.include_router(module.router)
    app.include_router(api)

    from registry.web import data_pages

    app.include_router(data_pages.router, dependencies=[Depends(get_principal)])

    from registry.api.routes import datasets

    app.include_router(datasets.router, prefix=API_PREFIX, dependencies=[Depends(get_principal)])
    app.include_router(datasets.pages, dependencies=[Depends(get_principal)])

    # Runs authenticate inside their routes: they open their own transactions (executor polls, sync).
    from registry.api.routes import runs
    from registry.web import runs_pages

    app.include_router(runs.router, prefix=API_PREFIX)
    app.include_router(runs_pages.router)

    from registry.web import lineage_pages  # /trace and the package page's lineage block

    app.include_router(lineage_pages.router)
    pages.mount(app)
    _document_errors(app)
    app.add_middleware(BodyLimit, default=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    return app


def _document_errors(app: FastAPI) -> None:
    """Every operation's errors are ``{"error": {"code", "message"}}``: say so in the schema (422 included)."""
    from typing import Any

    from fastapi.openapi.utils import get_openapi

    from registry.schemas import ErrorOut

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["ErrorOut"] = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
        for sub in components["ErrorOut"].pop("$defs", {}).items():
            components.setdefault(*sub)
        error = {
            "description": "an error",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
        }
        for ops in schema.get("paths", {}).values():
            for op in ops.values():
                if not isinstance(op, dict) or "responses" not in op:
                    continue
                responses = op["responses"]
                for code in list(responses):
                    if code[:1] in {"4", "5"}:
                        responses[code] = {**error, "description": responses[code].get("description", "an error")}
                responses.setdefault("default", error)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
