"""Python API over the registry for CI/CD evidence, lineage and Git remotes (what the CLI calls).

Every function takes an open :class:`toolkit.client.RegistryClient`, so the
same code works against a server or the embedded registry.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pydantic import TypeAdapter

from registry.schemas_links import (
    DeploymentOut,
    EvaluationOut,
    FirmwareOut,
    RemoteOut,
    SyncedTagOut,
    SyncReportOut,
    TraceOut,
)
from toolkit.errors import UserError

if TYPE_CHECKING:
    from toolkit.client import RegistryClient


def _q(part: str) -> str:
    return quote(part, safe="")


def _get(client: RegistryClient, model: Any, path: str, **kwargs: Any) -> Any:
    return TypeAdapter(model).validate_python(client.request("GET", path, **kwargs).json())


def _post(client: RegistryClient, model: Any, path: str, body: dict[str, Any]) -> Any:
    return TypeAdapter(model).validate_python(client.request("POST", path, json=body).json())


def load_metrics(value: str | None) -> dict[str, Any]:
    """Metrics from inline JSON or ``@file.json``."""
    if not value:
        return {}
    text = value
    if value.startswith("@"):
        path = Path(value[1:])
        if not path.is_file():
            raise UserError(f"metrics file {path} not found")
        text = path.read_text()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"metrics are not JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise UserError("metrics must be a JSON object")
    return data


# --- evaluations ----------------------------------------------------------
def add_evaluation(
    client: RegistryClient,
    ref: str,
    *,
    suite: str,
    passed: int,
    failed: int,
    total: int,
    verdict: str,
    metrics: dict[str, Any] | None = None,
    ci_run_url: str = "",
) -> EvaluationOut:
    """Record an evaluation of ``ref`` ([PROJECT/]NAME@VERSION or @CHANNEL, pinned to the exact version now)."""
    version = client.resolve(ref)
    path = f"/projects/{_q(version.project)}/packages/{_q(version.package)}/versions/{_q(version.version)}/evaluations"
    body = {
        "suite": suite,
        "passed": passed,
        "failed": failed,
        "total": total,
        "verdict": verdict,
        "metrics": metrics or {},
        "ci_run_url": ci_run_url,
    }
    return _post(client, EvaluationOut, path, body)


def list_evaluations(client: RegistryClient, ref: str) -> list[EvaluationOut]:
    """Evaluations of one version (``NAME@VERSION``) or of every version of a package (``NAME``)."""
    if "@" in ref or "#" in ref:
        version = client.resolve(ref)
        path = (
            f"/projects/{_q(version.project)}/packages/{_q(version.package)}/versions/{_q(version.version)}/evaluations"
        )
    else:
        package = client.find_package(ref)
        path = f"/projects/{_q(package.project)}/packages/{_q(package.name)}/evaluations"
    return _get(client, list[EvaluationOut], path)


# --- firmware -------------------------------------------------------------
def add_firmware(
    client: RegistryClient,
    project: str,
    name: str,
    version: str,
    packages: list[str],
    *,
    description: str = "",
    ci_run_url: str = "",
) -> FirmwareOut:
    body = {
        "name": name,
        "version": version,
        "packages": packages,
        "description": description,
        "ci_run_url": ci_run_url,
    }
    return _post(client, FirmwareOut, f"/projects/{_q(project)}/firmware", body)


def list_firmware(client: RegistryClient, project: str | None = None) -> list[FirmwareOut]:
    params = {"project": project} if project else {}
    return _get(client, list[FirmwareOut], "/firmware", params=params)


def get_firmware(client: RegistryClient, ref: str) -> FirmwareOut:
    name, sep, version = ref.partition("@")
    if not sep or not name or not version:
        raise UserError(f"invalid firmware reference {ref!r}: use NAME@VERSION")
    return _get(client, FirmwareOut, f"/firmware/{_q(name)}/{_q(version)}")


# --- deployments ----------------------------------------------------------
def record_deployment(
    client: RegistryClient,
    vehicle: str,
    firmware: str,
    *,
    site: str = "",
    status: str = "deployed",
    deployed_at: datetime | None = None,
    ci_run_url: str = "",
) -> DeploymentOut:
    body = {
        "vehicle": vehicle,
        "firmware": firmware,
        "site": site,
        "status": status,
        "deployed_at": deployed_at.isoformat() if deployed_at else None,
        "ci_run_url": ci_run_url,
    }
    return _post(client, DeploymentOut, "/deployments", body)


def list_deployments(
    client: RegistryClient, *, vehicle: str | None = None, firmware: str | None = None, current: bool = False
) -> list[DeploymentOut]:
    params: dict[str, Any] = {k: v for k, v in {"vehicle": vehicle, "firmware": firmware}.items() if v}
    if current:
        params["current"] = True
    return _get(client, list[DeploymentOut], "/deployments", params=params)


# --- lineage --------------------------------------------------------------
def trace(client: RegistryClient, subject: str) -> TraceOut:
    """``vehicle:ID``, ``firmware:NAME@V``, ``package:[PROJECT/]NAME@V`` or ``bag:MD5``."""
    return _get(client, TraceOut, f"/lineage/{quote(subject, safe=':@/')}")


# --- Git remotes ----------------------------------------------------------
def register_remote(client: RegistryClient, project: str, url: str) -> RemoteOut:
    return _post(client, RemoteOut, f"/projects/{_q(project)}/remotes", {"url": url})


def list_remotes(client: RegistryClient, project: str) -> list[RemoteOut]:
    return _get(client, list[RemoteOut], f"/projects/{_q(project)}/remotes")


def sync_remote(client: RegistryClient, remote_id: int) -> SyncReportOut:
    return _post(client, SyncReportOut, f"/remotes/{remote_id}/sync", {})


def synced_tags(client: RegistryClient, remote_id: int) -> list[SyncedTagOut]:
    return _get(client, list[SyncedTagOut], f"/remotes/{remote_id}/tags")
