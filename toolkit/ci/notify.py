"""Tell the registry about a pushed tag with a GitHub-format `push` webhook (HMAC-signed).

The registry's `POST /api/v1/webhooks/github` accepts exactly what GitHub sends for a
repository webhook, so the release workflow and a repository webhook are interchangeable.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

import httpx

from toolkit.errors import PermissionDeniedError, RegistryError, UserError

WEBHOOK_PATH = "/api/v1/webhooks/github"


def push_payload(ref: str, sha: str, repository: str, clone_url: str) -> dict[str, Any]:
    return {
        "ref": ref,
        "before": "0" * 40,
        "after": sha,
        "created": True,
        "deleted": False,
        "repository": {
            "full_name": repository,
            "name": repository.split("/")[-1],
            "clone_url": clone_url,
            "html_url": clone_url,
        },
    }


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def notify_registry(
    registry_url: str,
    *,
    ref: str,
    sha: str,
    repository: str,
    clone_url: str,
    secret: str | None,
    token: str | None = None,
    timeout_s: float = 30.0,
) -> dict[str, Any]:
    """Send the webhook; returns the registry's JSON answer (what it synced)."""
    body = json.dumps(push_payload(ref, sha, repository, clone_url)).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()),
    }
    if secret:
        headers["X-Hub-Signature-256"] = signature(secret, body)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    url = registry_url.rstrip("/") + WEBHOOK_PATH
    try:
        resp = httpx.post(url, content=body, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise UserError(f"registry at {registry_url} is unreachable: {exc}") from exc
    if resp.status_code in (401, 403):
        raise PermissionDeniedError(f"registry refused the webhook ({resp.status_code}): {_detail(resp)}")
    if resp.status_code >= 400:
        raise RegistryError(f"registry answered {resp.status_code} to the webhook: {_detail(resp)}")
    try:
        answer = resp.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {"result": answer}


def _detail(resp: httpx.Response) -> str:
    try:
        data = resp.json()
    except ValueError:
        return resp.text.strip()[:200]
    detail = data.get("detail", data) if isinstance(data, dict) else data
    if isinstance(detail, dict):
        detail = detail.get("message") or detail.get("detail") or json.dumps(detail)
    return str(detail)[:200]
