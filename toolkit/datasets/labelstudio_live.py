"""A live Label Studio server through label-studio-sdk: push frames as tasks, pull annotations back.

Images are served by Label Studio itself from the dataset's ``frames/``
directory ("local files" serving: the server runs with
``LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true`` and a document root that
contains the dataset). Nothing is uploaded or copied; a local-files storage is
attached to the project so Label Studio authorizes those paths.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from toolkit.config import get_settings
from toolkit.datasets import annotations as ann
from toolkit.datasets import manifest as mf
from toolkit.datasets import versions as vs
from toolkit.datasets.formats import labelstudio
from toolkit.errors import AuthenticationError, NotFoundError, PitlaneError, UserError

T = TypeVar("T")


class PushResult(BaseModel):
    project_id: int
    url: str
    tasks: int
    storage_id: int | None
    dataset: str
    version: int


def _client(url: str, token: str) -> Any:
    from label_studio_sdk import LabelStudio

    return LabelStudio(base_url=url.rstrip("/"), api_key=token, timeout=120)


@contextmanager
def _errors(url: str) -> Iterator[None]:
    """SDK and transport errors -> one line each."""
    import httpx
    from label_studio_sdk.core.api_error import ApiError

    try:
        yield
    except PitlaneError:
        raise
    except ApiError as exc:
        body = exc.body if isinstance(exc.body, dict) else {}
        detail = body.get("detail") or body.get("validation_errors") or exc.body
        if exc.status_code in (401, 403):
            raise AuthenticationError(f"Label Studio at {url} refused the token ({detail})") from None
        if exc.status_code == 404:
            raise NotFoundError(f"Label Studio at {url}: not found ({detail})") from None
        raise UserError(f"Label Studio at {url} answered {exc.status_code}: {detail}") from None
    except httpx.HTTPError as exc:
        raise UserError(f"cannot reach Label Studio at {url} ({exc.__class__.__name__})") from None


def _state_file(root: Path, name: str) -> Path:
    import hashlib

    key = hashlib.sha256(str(root).encode()).hexdigest()[:12]
    return get_settings().home / "labelstudio" / key / f"{name}.json"


def push(
    ref: str,
    url: str,
    token: str,
    *,
    labels: list[str] | None = None,
    document_root: Path | None = None,
    title: str | None = None,
    repo: Path | None = None,
) -> PushResult:
    ds, manifest, _ = vs.resolve_ref(ref, repo)
    classes = list(dict.fromkeys([*(labels or []), *manifest.all_classes()]))
    config = labelstudio.label_config(classes)
    root = (document_root or ds.root).resolve()
    frames_dir = (ds.dir / mf.FRAMES_DIR).resolve()
    try:
        prefix = ds.dir.resolve().relative_to(root).as_posix()
    except ValueError:
        raise UserError(
            f"{ds.dir} is not under Label Studio's document root {root} "
            "(LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT / --document-root)"
        ) from None
    tasks = labelstudio.tasks(manifest, ann.local_files_url("" if prefix == "." else prefix))
    if not tasks:
        raise UserError(f"dataset {manifest.name} has no image frames to label")
    client = _client(url, token)
    with _errors(url):
        project = client.projects.create(title=title or f"{manifest.name}@v{manifest.version}", label_config=config)
        storage = client.import_storage.local.create(
            project=project.id, path=str(frames_dir), use_blob_urls=False, title=f"pitlane {manifest.name} frames"
        )
        client.projects.import_tasks(id=project.id, request=tasks, commit_to_project=True)
    result = PushResult(
        project_id=int(project.id),
        url=f"{url.rstrip('/')}/projects/{project.id}",
        tasks=len(tasks),
        storage_id=getattr(storage, "id", None),
        dataset=manifest.name,
        version=manifest.version,
    )
    state = _state_file(ds.root, manifest.name)
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(result.model_dump_json(indent=1))
    return result


def export_json(url: str, token: str, project_id: int) -> list[dict[str, Any]]:
    """The project's full JSON export (tasks with annotations and predictions)."""
    client = _client(url, token)
    with _errors(url):
        chunks = client.projects.exports.download_sync(project_id, export_type="JSON", download_all_tasks=True)
        data = b"".join(chunks)
    try:
        doc = json.loads(data)
    except json.JSONDecodeError:
        raise UserError(f"Label Studio at {url} returned an export that is not JSON") from None
    if not isinstance(doc, list):
        raise UserError(f"Label Studio at {url} returned an unexpected export ({type(doc).__name__})")
    return doc


def pull(
    name: str, url: str, token: str, *, project_id: int | None = None, repo: Path | None = None
) -> tuple[mf.Manifest, vs.VersionInfo, int]:
    ds = vs.locate(name, repo)
    if project_id is None:
        state = _state_file(ds.root, name)
        if not state.is_file():
            raise UserError(f"no Label Studio project recorded for {name}: pass --project ID")
        project_id = PushResult.model_validate_json(state.read_text()).project_id
    manifest = mf.read(ds.dir)
    export = export_json(url, token, project_id)
    sizes = {f.id: (f.width, f.height) for f in manifest.frames}
    imported = labelstudio.parse_tasks(export, f"Label Studio project {project_id}", sizes)
    return ann.commit_imported(ds, manifest, imported, {"tool": "labelstudio", "url": url, "project": project_id})


def with_client(url: str, token: str, fn: Callable[[Any], T]) -> T:
    """Run ``fn(client)`` with Pitlane's error mapping (used by tests acting as an annotator)."""
    client = _client(url, token)
    with _errors(url):
        return fn(client)
