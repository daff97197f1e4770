"""GitHub push webhooks: verify the HMAC signature, then sync the pushed repository.

Public route (GitHub sends no bearer token); the shared secret is the only
credential, so a missing or wrong ``X-Hub-Signature-256`` gets 401 and
nothing is read or synced.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from registry.api.errors import error_response
from registry.core.policy import policy_of
from registry.schemas_links import SyncReportOut, WebhookOut
from registry.services.remotes import remotes_for_url
from registry.sync import sync_remote
from toolkit.errors import PitlaneError

router = APIRouter(tags=["webhooks"])
MAX_BODY = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str | None, body: bytes, header: str | None) -> bool:
    if not secret or not header:
        return False
    return hmac.compare_digest(signature(secret, body).encode(), header.strip().encode())  # bytes: any header


def _urls(payload: dict[str, Any]) -> list[str]:
    repo = payload.get("repository")
    if not isinstance(repo, dict):
        return []
    keys = ("clone_url", "ssh_url", "git_url", "html_url", "url", "svn_url")
    return [repo[k] for k in keys if isinstance(repo.get(k), str)]


@router.post("/webhooks/github", response_model=WebhookOut, responses={401: {"description": "bad signature"}})
async def github(request: Request) -> Any:
    body = await request.body()
    if len(body) > MAX_BODY:
        return error_response(413, "payload too large")
    secret = request.app.state.settings.webhook_secret
    if not verify_signature(secret, body, request.headers.get("x-hub-signature-256")):
        reason = "webhook secret is not configured" if not secret else "missing or invalid X-Hub-Signature-256"
        return error_response(401, reason)
    event = request.headers.get("x-github-event", "")
    if event != "push":
        return JSONResponse(WebhookOut(event=event or "unknown").model_dump(), status_code=202)
    try:
        payload = json.loads(body)
    except ValueError:
        return error_response(400, "payload is not JSON")
    if not isinstance(payload, dict):
        return error_response(400, "payload is not a JSON object")
    db = request.app.state.db
    with db.transaction(write=False) as session:
        ids = [r.id for r in remotes_for_url(session, _urls(payload))]
    reports = []
    for remote_id in ids:
        try:
            report = await run_in_threadpool(
                sync_remote, db, remote_id, request.app.state.settings.home, policy_of(request.app.state)
            )
        except PitlaneError as exc:
            reports.append(
                SyncReportOut(
                    remote_id=remote_id, url="", seen=0, versions=[], channels=[], ignored=[], errors=[str(exc)]
                )
            )
            continue
        reports.append(SyncReportOut(**report.as_dict()))
    return WebhookOut(event=event, synced=reports)
