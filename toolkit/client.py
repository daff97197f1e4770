"""Typed client of the registry HTTP API.

With ``PITLANE_REGISTRY_URL`` set it talks HTTP to that server with
``PITLANE_TOKEN`` (or the credentials saved by ``pitlane login``). Without
it, the registry app runs in this process on the SQLite database in
PITLANE_HOME, acting as the local user (an admin): every command works
with zero set-up, through exactly the same API a server offers.

HTTP errors become :mod:`toolkit.errors` exceptions carrying the server's
one-line message: 401/403 -> permission denied (exit 4), 404 -> not found
(3), 409 -> conflict (5), other 4xx -> user error (1).
"""

from __future__ import annotations

import asyncio
import errno
import getpass
import hashlib
import json
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter

# Importing registry.schemas pulls in pydantic models only (no FastAPI, no database).
from registry.schemas import (
    AuditCheckpoint,
    AuditEventOut,
    AuditVerifyIn,
    AuditVerifyOut,
    ChannelOut,
    GrantOut,
    Me,
    MemberOut,
    NewTokenOut,
    PackageOut,
    ProjectOut,
    TokenOut,
    UserOut,
    VersionOut,
)
from toolkit import faults
from toolkit.config import Settings, get_settings
from toolkit.errors import (
    AuthenticationError,
    ConflictError,
    IntegrityError,
    NotFoundError,
    PermissionDeniedError,
    PitlaneError,
    RegistryError,
    UserError,
)
from toolkit.partials import remove_stale_partials, work_path
from toolkit.release.manifest import file_digests

CREDENTIALS = "credentials"
EMBEDDED_BASE = "http://pitlane.embedded"
T = TypeVar("T")


# --- credentials ------------------------------------------------------------
def credentials_path(settings: Settings | None = None) -> Path:
    return (settings or get_settings()).home / CREDENTIALS


def save_credentials(url: str, token: str, settings: Settings | None = None) -> Path:
    """Store URL and token for later commands, readable by this user only (0600)."""
    path = credentials_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"url": url.rstrip("/"), "token": token}, fh)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def load_credentials(settings: Settings | None = None) -> dict[str, str]:
    path = credentials_path(settings)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        raise UserError(f"cannot read {path}: run `pitlane login URL --token TOKEN` again") from None
    return {k: str(v) for k, v in data.items() if k in {"url", "token"}}


def local_user() -> str:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "local"
    return "".join(c if c.isalnum() or c in "._-" else "-" for c in name) or "local"


# --- in-process transport ---------------------------------------------------
class InProcessTransport(httpx.BaseTransport):
    """A synchronous httpx transport that runs an ASGI app in this process.

    httpx's own ASGITransport is async-only; this one drives it on a private
    event loop in a daemon thread, so the sync client code is identical for
    embedded and remote registries, and a client nobody closed never keeps
    the process from exiting.
    """

    def __init__(self, app: Any) -> None:
        self._inner = httpx.ASGITransport(app=app)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pitlane-inprocess", daemon=True)
        self._thread.start()

    async def _call(self, method: str, url: str, headers: list[tuple[bytes, bytes]], body: bytes) -> httpx.Response:
        request = httpx.Request(method, url, headers=headers, content=body)
        response = await self._inner.handle_async_request(request)
        content = await response.aread()
        return httpx.Response(response.status_code, headers=response.headers, content=content)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._loop.is_closed():
            raise httpx.TransportError("in-process registry transport is closed")
        body = request.read()
        future = asyncio.run_coroutine_threadsafe(
            self._call(request.method, str(request.url), request.headers.raw, body), self._loop
        )
        result = future.result()
        return httpx.Response(result.status_code, headers=result.headers, content=result.content, request=request)

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
        msg = body["error"]["message"]
        if isinstance(msg, str) and msg:
            return msg.splitlines()[0]
    except (ValueError, KeyError, TypeError):
        pass
    return f"registry answered HTTP {response.status_code}"


def raise_for_status(response: httpx.Response) -> None:
    code = response.status_code
    if code < 400:
        return
    message = _error_message(response)
    if code == 401:
        raise AuthenticationError(message)
    if code == 403:
        raise PermissionDeniedError(message)
    if code == 404:
        raise NotFoundError(message)
    if code == 409:
        raise ConflictError(message)
    if code < 500:
        raise UserError(message)
    raise RegistryError(f"registry error (HTTP {code}): {message}")


def _quote(part: str) -> str:
    return quote(part, safe="")


class RegistryClient(AbstractContextManager["RegistryClient"]):
    """One registry connection; use as a context manager or call ``close()``."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        settings: Settings | None = None,
        app: Any = None,
        timeout: float = 60.0,
    ) -> None:
        self.settings = settings or get_settings()
        saved = load_credentials(self.settings) if (url is None and app is None) else {}
        url = url or self.settings.registry_url or saved.get("url")
        token = token or self.settings.token or (saved.get("token") if saved.get("url") == (url or "") else None)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.embedded = url is None
        if url is None:
            if app is None:
                from registry.main import create_app

                app = create_app(self.settings, embedded_user=local_user())
            self._http = httpx.Client(
                transport=InProcessTransport(app), base_url=EMBEDDED_BASE, headers=headers, timeout=timeout
            )
        else:
            self._http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)
        self.url = url or "embedded"

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        transport = self._http._transport
        self._http.close()
        if isinstance(transport, InProcessTransport):
            transport.close()

    # --- plumbing -------------------------------------------------------
    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, f"/api/v1{path}", **kwargs)
        except httpx.TransportError as exc:
            raise RegistryError(f"cannot reach the registry at {self.url}: {exc}") from None
        raise_for_status(response)
        return response

    def _get(self, model: type[T] | Any, path: str, **kwargs: Any) -> Any:
        return TypeAdapter(model).validate_python(self.request("GET", path, **kwargs).json())

    def _send(
        self,
        method: str,
        model: type[T] | Any,
        path: str,
        body: BaseModel | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        payload = body.model_dump(mode="json") if isinstance(body, BaseModel) else body
        response = self.request(method, path, json=payload, **kwargs)
        return TypeAdapter(model).validate_python(response.json())

    @staticmethod
    def _pkg(project: str, name: str) -> str:
        return f"/projects/{_quote(project)}/packages/{_quote(name)}"

    # --- identity and projects -----------------------------------------
    def health(self) -> dict[str, Any]:
        return dict(self.request("GET", "/health").json())

    def me(self) -> Me:
        return self._get(Me, "/me")

    def list_projects(self) -> list[ProjectOut]:
        return self._get(list[ProjectOut], "/projects")

    def create_project(self, name: str, description: str = "") -> ProjectOut:
        return self._send("POST", ProjectOut, "/projects", {"name": name, "description": description})

    def set_protected_channels(self, project: str, channels: list[str]) -> ProjectOut:
        return self._send("PUT", ProjectOut, f"/projects/{_quote(project)}/protected-channels", {"channels": channels})

    def list_users(self) -> list[UserOut]:
        return self._get(list[UserOut], "/users")

    def create_user(self, name: str, *, is_admin: bool = False) -> UserOut:
        return self._send("POST", UserOut, "/users", {"name": name, "is_admin": is_admin})

    # --- access ---------------------------------------------------------
    def list_members(self, project: str) -> list[MemberOut]:
        return self._get(list[MemberOut], f"/projects/{_quote(project)}/members")

    def grant_role(self, project: str, user: str, role: str) -> MemberOut:
        return self._send("PUT", MemberOut, f"/projects/{_quote(project)}/members/{_quote(user)}", {"role": role})

    def revoke_role(self, project: str, user: str) -> None:
        self.request("DELETE", f"/projects/{_quote(project)}/members/{_quote(user)}")

    def list_grants(self, project: str, name: str) -> list[GrantOut]:
        return self._get(list[GrantOut], f"{self._pkg(project, name)}/grants")

    def grant_package(
        self, project: str, name: str, *, user: str | None = None, to_project: str | None = None, role: str = "viewer"
    ) -> GrantOut:
        body = {"user": user, "project": to_project, "role": role}
        return self._send("POST", GrantOut, f"{self._pkg(project, name)}/grants", body)

    def revoke_package(
        self, project: str, name: str, *, user: str | None = None, to_project: str | None = None
    ) -> None:
        params = {k: v for k, v in {"user": user, "project": to_project}.items() if v is not None}
        self.request("DELETE", f"{self._pkg(project, name)}/grants", params=params)

    # --- tokens ---------------------------------------------------------
    def create_token(
        self,
        name: str,
        *,
        user: str | None = None,
        project: str | None = None,
        scopes: list[str] | None = None,
        robot: bool = False,
        expires_days: int | None = None,
    ) -> NewTokenOut:
        body = {
            "name": name,
            "user": user,
            "project": project,
            "scopes": scopes,
            "robot": robot,
            "expires_days": expires_days,
        }
        return self._send("POST", NewTokenOut, "/tokens", body)

    def list_tokens(self, *, all_users: bool = False) -> list[TokenOut]:
        return self._get(list[TokenOut], "/tokens", params={"all": all_users})

    def revoke_token(self, prefix: str) -> TokenOut:
        return self._send("DELETE", TokenOut, f"/tokens/{_quote(prefix)}")

    # --- packages -------------------------------------------------------
    def list_packages(self, *, project: str | None = None, query: str | None = None) -> list[PackageOut]:
        params = {k: v for k, v in {"project": project, "q": query}.items() if v}
        return self._get(list[PackageOut], "/packages", params=params)

    def get_package(self, project: str, name: str) -> PackageOut:
        return self._get(PackageOut, self._pkg(project, name))

    def create_package(self, project: str, name: str, description: str = "") -> PackageOut:
        return self._send(
            "POST", PackageOut, f"/projects/{_quote(project)}/packages", {"name": name, "description": description}
        )

    def list_versions(self, project: str, name: str) -> list[VersionOut]:
        return self._get(list[VersionOut], f"{self._pkg(project, name)}/versions")

    def get_version(self, project: str, name: str, version: str) -> VersionOut:
        return self._get(VersionOut, f"{self._pkg(project, name)}/versions/{_quote(version)}")

    def publish(
        self,
        project: str,
        name: str,
        version: str,
        files: list[dict[str, Any]],
        *,
        commit: str | None = None,
        tag: str | None = None,
        manifest: dict[str, Any] | None = None,
        description: str = "",
    ) -> VersionOut:
        body = {
            "version": version,
            "files": files,
            "commit": commit,
            "tag": tag,
            "manifest": manifest or {},
            "description": description,
        }
        return self._send("POST", VersionOut, f"{self._pkg(project, name)}/versions", body)

    def find_package(self, name: str) -> PackageOut:
        """``PROJECT/NAME`` or a ``NAME`` unique among the packages the caller can see."""
        project, plain = split_package(name)
        if project:
            return self.get_package(project, plain)
        matches = [p for p in self.list_packages(query=plain) if p.name == plain]
        if not matches:
            raise NotFoundError(f"package {plain!r} not found")
        if len(matches) > 1:
            projects = ", ".join(sorted(p.project for p in matches))
            raise UserError(f"package {plain!r} exists in several projects ({projects}): write PROJECT/{plain}")
        return matches[0]

    def resolve(self, ref: str) -> VersionOut:
        return self._get(VersionOut, "/resolve", params={"ref": ref})

    def deprecate(self, project: str, name: str, version: str, reason: str = "") -> VersionOut:
        return self._send(
            "POST", VersionOut, f"{self._pkg(project, name)}/versions/{_quote(version)}/deprecate", {"reason": reason}
        )

    def list_channels(self, project: str, name: str) -> list[ChannelOut]:
        return self._get(list[ChannelOut], f"{self._pkg(project, name)}/channels")

    def set_channel(self, project: str, name: str, channel: str, version: str) -> ChannelOut:
        return self._send(
            "PUT", ChannelOut, f"{self._pkg(project, name)}/channels/{_quote(channel)}", {"version": version}
        )

    @contextmanager
    def stream_file(self, project: str, name: str, version: str, path: str) -> Iterator[httpx.Response]:
        url = f"/api/v1{self._pkg(project, name)}/versions/{_quote(version)}/files/{quote(path)}"
        try:
            with self._http.stream("GET", url) as response:
                if response.status_code >= 400:
                    response.read()
                raise_for_status(response)
                yield response
        except httpx.TransportError as exc:
            raise RegistryError(f"download of {path} from {self.url} failed: {exc}") from None

    # --- audit ----------------------------------------------------------
    def audit_events(
        self, *, target: str | None = None, action: str | None = None, limit: int = 100
    ) -> list[AuditEventOut]:
        params: dict[str, Any] = {"limit": limit}
        if target:
            params["target"] = target
        if action:
            params["action"] = action
        return self._get(list[AuditEventOut], "/audit", params=params)

    def audit_verify(self, checkpoints: list[AuditCheckpoint] | None = None) -> AuditVerifyOut:
        if not checkpoints:
            return self._get(AuditVerifyOut, "/audit/verify")
        return self._send("POST", AuditVerifyOut, "/audit/verify", AuditVerifyIn(checkpoints=checkpoints))

    def audit_checkpoint(self) -> AuditCheckpoint:
        return self._get(AuditCheckpoint, "/audit/checkpoint")

    # --- pull -----------------------------------------------------------
    def pull(self, ref: str, out_dir: Path) -> VersionOut:
        """Download every file of a version into ``out_dir``, verifying each md5 and, where the
        manifest records one, its sha256; all or nothing."""
        version = self.resolve(ref)
        if version.signature is not None and version.signature.status == "invalid":
            # The sha256s below come from the manifest: a manifest whose signature fails names nothing trustworthy.
            raise IntegrityError(
                f"{ref}: release signature is invalid ({version.signature.reason}); nothing was pulled"
            )
        sha256s = file_digests(version.manifest)
        paths = [safe_relpath(f.path) for f in version.files]  # before anything is written
        out_dir = Path(out_dir)
        if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
            if _holds_version(out_dir, version):
                return version  # a rerun after a finished pull (or one killed after its rename)
            raise UserError(f"{out_dir} exists and is not an empty directory")
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(out_dir)  # what killed pulls into the same place left
        staging = work_path(out_dir)
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            for f, rel in zip(version.files, paths, strict=True):
                target = staging / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                md5 = hashlib.md5(usedforsecurity=False)
                sha = hashlib.sha256()
                size = 0
                with (
                    self.stream_file(version.project, version.package, version.version, f.path) as resp,
                    target.open("wb") as fh,
                ):
                    for chunk in resp.iter_bytes(1024 * 1024):
                        md5.update(chunk)
                        sha.update(chunk)
                        size += len(chunk)
                        fh.write(chunk)
                faults.point("pull.file")
                if md5.hexdigest() != f.md5 or size != f.size:
                    raise IntegrityError(
                        f"{f.path}: downloaded bytes do not match the registry (md5 {md5.hexdigest()} != {f.md5}, "
                        f"size {size} vs {f.size}); nothing was written to {out_dir}"
                    )
                want = sha256s.get(f.path)
                if want is not None and sha.hexdigest() != want:
                    raise IntegrityError(
                        f"{f.path}: sha256 {sha.hexdigest()} differs from the release manifest's {want}; "
                        f"nothing was written to {out_dir}"
                    )
            if out_dir.exists():
                out_dir.rmdir()
            os.replace(staging, out_dir)
            faults.point("pull.done")
        except OSError as exc:  # a full or read-only disk: one line, nothing partial
            shutil.rmtree(staging, ignore_errors=True)
            reason = {errno.ENOSPC: "no space left on device", errno.EROFS: "read-only file system"}.get(
                exc.errno or 0, exc.strerror or str(exc)
            )
            raise UserError(f"pull {ref} into {out_dir}: {reason}; nothing was written") from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return version


def safe_relpath(path: str) -> str:
    """A server-sent file path, refused unless it stays inside the download directory."""
    parts = path.split("/")
    if (
        not path
        or path.startswith("/")
        or "\\" in path
        or any(ord(c) < 32 for c in path)
        or any(p in {"", ".", ".."} for p in parts)
        or Path(path).is_absolute()
    ):
        raise IntegrityError(f"the registry sent an unsafe file path {path!r}: refusing to write it")
    return path


def _holds_version(out_dir: Path, version: VersionOut) -> bool:
    """Whether `out_dir` holds exactly the files of `version`, byte for byte (md5 and size)."""
    if not out_dir.is_dir():
        return False
    present = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*") if p.is_file())
    if present != sorted(f.path for f in version.files):
        return False
    for f in version.files:
        target = out_dir / f.path
        if target.stat().st_size != f.size:
            return False
        md5 = hashlib.md5(usedforsecurity=False)
        with target.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                md5.update(chunk)
        if md5.hexdigest() != f.md5:
            return False
    return True


def connect(settings: Settings | None = None) -> RegistryClient:
    """The registry the environment points at (embedded when PITLANE_REGISTRY_URL is unset)."""
    return RegistryClient(settings=settings)


def split_package(name: str) -> tuple[str | None, str]:
    """``PROJECT/NAME`` -> (project, name); plain ``NAME`` -> (None, name)."""
    project, sep, rest = name.partition("/")
    return (project, rest) if sep else (None, name)


__all__ = [
    "InProcessTransport",
    "PitlaneError",
    "RegistryClient",
    "connect",
    "load_credentials",
    "save_credentials",
    "split_package",
]
