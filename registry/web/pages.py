"""Web pages: mounted by the app factory."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response


def html_error(request: Request, status: int, message: str) -> Response:
    return HTMLResponse(f"<p>{status}: {message}</p>", status_code=status)


def mount(app: FastAPI) -> None:
    pass
