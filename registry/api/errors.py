"""JSON errors with stable codes: ``{"error": {"code": "not_found", "message": "..."}}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from registry.api.deps import has_credentials
from registry.core.config import API_PREFIX
from toolkit.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    PitlaneError,
)

log = logging.getLogger("pitlane.registry")

HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    500: "internal",
}


def status_of(exc: PitlaneError) -> int:
    if isinstance(exc, AuthenticationError):
        return 401
    if isinstance(exc, PermissionDeniedError):
        return 403
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConflictError):
        return 409
    return 400


def error_response(status: int, message: str, code: str | None = None) -> JSONResponse:
    body = {"error": {"code": code or HTTP_CODES.get(status, f"http_{status}"), "message": message}}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX) or "text/html" not in request.headers.get("accept", "")


def install(app: FastAPI, *, html_error: object = None) -> None:
    async def pitlane_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PitlaneError)
        status = status_of(exc)
        if not _is_api(request) and callable(html_error):
            return html_error(request, status, str(exc))
        return error_response(status, str(exc))

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(422, f"{where}: {first.get('msg', 'invalid request')}" if where else "invalid request")

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        embedded = getattr(request.app.state, "embedded_user", None)
        if status == 404 and not embedded and not has_credentials(request) and request.url.path.startswith(API_PREFIX):
            # Anonymous callers learn nothing about which paths exist.
            return error_response(401, "authentication required: pass 'Authorization: Bearer <token>'")
        if not _is_api(request) and callable(html_error):
            return html_error(request, status, str(exc.detail))
        return error_response(status, str(exc.detail))

    async def out_of_range(request: Request, exc: Exception) -> Response:
        # A number beyond what the database column holds is bad input, not a server fault.
        return error_response(400, "a number in the request is out of range")

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal error (logged on the server)")

    app.add_exception_handler(PitlaneError, pitlane_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(OverflowError, out_of_range)
    app.add_exception_handler(DataError, out_of_range)
    app.add_exception_handler(Exception, unexpected)
    _ = HTMLResponse  # html pages render through the web package's handler
