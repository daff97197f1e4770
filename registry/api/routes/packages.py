"""Packages, versions, channels, deprecation, resolution and file download."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from registry.api.deps import CurrentPrincipal, SessionDep, get_database, principal_from_request
from registry.core.policy import policy_of
from registry.models import Package, PackageVersion
from registry.schemas import (
    ChannelIn,
    ChannelOut,
    DeprecateIn,
    ErrorOut,
    FileOut,
    PackageIn,
    PackageOut,
    SignatureOut,
    VersionIn,
    VersionOut,
)
from registry.services import packages as svc
from registry.services import signatures
from registry.services.storage import open_stream
from toolkit.errors import NotFoundError

router = APIRouter(tags=["packages"])


def version_out(
    v: PackageVersion, package: Package, channels: list[str] | None = None, session: Session | None = None
) -> VersionOut:
    verdict = signatures.verdict(session, package.project_id, v.manifest or {}) if session is not None else None
    return VersionOut(
        project=package.project.name,
        package=package.name,
        version=v.version,
        content_hash=v.content_hash,
        commit=v.commit,
        tag=v.tag,
        manifest=v.manifest or {},
        created_at=v.created_at,
        created_by=v.created_by,
        deprecated=v.deprecated_at is not None,
        deprecated_at=v.deprecated_at,
        deprecated_by=v.deprecated_by,
        deprecation_reason=v.deprecation_reason,
        channels=channels or [],
        files=[FileOut.model_validate(f) for f in v.files],
        signature=SignatureOut(status=verdict.status, signer=verdict.signer, reason=verdict.reason)
        if verdict
        else None,
    )


def package_out(s: svc.PackageSummary) -> PackageOut:
    p = s.package
    return PackageOut(
        project=p.project.name,
        name=p.name,
        description=p.description,
        created_at=p.created_at,
        version_count=s.version_count,
        latest=s.latest,
        channels=s.channels,
        role=s.role.value if s.role else None,
    )


# The hot path (CI resolving NAME@CHANNEL on every job) skips the dependency machinery: each sync
# dependency would cost a threadpool hop. It runs inline on the event loop, which suits a
# single-worker process doing sub-millisecond indexed lookups.
resolve_router = APIRouter(tags=["packages"])


@resolve_router.get(
    "/resolve",
    response_model=VersionOut,
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}},
)
async def resolve(
    request: Request,
    ref: str = Query(max_length=600, description="[PROJECT/]NAME@VERSION, NAME@CHANNEL or NAME#CHANNEL"),
) -> Response:
    with get_database(request).session() as session:
        principal = principal_from_request(request, session)
        body = svc.resolve_out(session, principal, ref).model_dump_json()
        session.rollback()  # read only; ends the transaction before the session returns to the pool
    return Response(body, media_type="application/json")


@router.get("/packages", response_model=list[PackageOut])
def list_packages(
    principal: CurrentPrincipal,
    session: SessionDep,
    project: str | None = Query(default=None, max_length=100),
    q: str | None = Query(default=None, max_length=200, description="substring of name or description"),
) -> list[PackageOut]:
    return [package_out(s) for s in svc.list_packages(session, principal, project=project, query=q)]


@router.post(
    "/projects/{project}/packages",
    response_model=PackageOut,
    responses={
        200: {"description": "the package exists already"},
        201: {"model": PackageOut, "description": "created"},
    },
)
def create_package(
    project: str, body: PackageIn, principal: CurrentPrincipal, session: SessionDep, response: Response
) -> PackageOut:
    pkg, created = svc.create_package(session, principal, project, body.name, body.description)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return _summary(session, principal, pkg)


def _summary(session: SessionDep, principal: CurrentPrincipal, pkg: Package) -> PackageOut:
    found = svc.list_packages(session, principal, project=pkg.project.name, query=None)
    for s in found:
        if s.package.id == pkg.id:
            return package_out(s)
    raise NotFoundError(f"package {pkg.name!r} not found")


@router.get("/projects/{project}/packages/{name}", response_model=PackageOut)
def get_package(project: str, name: str, principal: CurrentPrincipal, session: SessionDep) -> PackageOut:
    return _summary(session, principal, svc.get_package(session, principal, project, name))


@router.get("/projects/{project}/packages/{name}/versions", response_model=list[VersionOut])
def list_versions(project: str, name: str, principal: CurrentPrincipal, session: SessionDep) -> list[VersionOut]:
    pkg = svc.get_package(session, principal, project, name)
    by_version: dict[str, list[str]] = {}
    for ch, ver in svc.channels_of(session, pkg):
        by_version.setdefault(ver, []).append(ch.name)
    return [version_out(v, pkg, by_version.get(v.version), session) for v in svc.list_versions(session, principal, pkg)]


@router.post(
    "/projects/{project}/packages/{name}/versions",
    response_model=VersionOut,
    responses={200: {"description": "identical content was already published"}, 201: {"description": "published"}},
    status_code=status.HTTP_201_CREATED,
)
def publish(
    project: str,
    name: str,
    body: VersionIn,
    principal: CurrentPrincipal,
    session: SessionDep,
    request: Request,
    response: Response,
) -> VersionOut:
    policy = policy_of(request.app.state)
    for f in body.files:
        policy.check_storage(f.url, f"location of {f.path!r}")
    result = svc.publish_version(
        session,
        principal,
        project=project,
        package=name,
        version=body.version,
        files=[svc.FileSpec(f.path, f.md5, f.size, f.url) for f in body.files],
        commit=body.commit,
        tag=body.tag,
        manifest=body.manifest,
        description=body.description,
    )
    response.status_code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
    v = result.version
    pkg = svc.get_package(session, principal, project, name)
    return version_out(v, pkg, session=session)


@router.get("/projects/{project}/packages/{name}/versions/{version}", response_model=VersionOut)
def get_version(project: str, name: str, version: str, principal: CurrentPrincipal, session: SessionDep) -> VersionOut:
    pkg = svc.get_package(session, principal, project, name)
    v = svc.get_version(session, principal, pkg, version)
    chans = [c.name for c, ver in svc.channels_of(session, pkg) if ver == v.version]
    return version_out(v, pkg, chans, session)


@router.post("/projects/{project}/packages/{name}/versions/{version}/deprecate", response_model=VersionOut)
def deprecate(
    project: str, name: str, version: str, body: DeprecateIn, principal: CurrentPrincipal, session: SessionDep
) -> VersionOut:
    pkg = svc.get_package(session, principal, project, name)
    return version_out(svc.deprecate_version(session, principal, pkg, version, body.reason), pkg)


@router.get("/projects/{project}/packages/{name}/channels", response_model=list[ChannelOut])
def list_channels(project: str, name: str, principal: CurrentPrincipal, session: SessionDep) -> list[ChannelOut]:
    pkg = svc.get_package(session, principal, project, name)
    protected = set(pkg.project.protected_channels or [])
    return [
        ChannelOut(
            package=f"{project}/{name}",
            channel=c.name,
            version=ver,
            protected=c.name in protected,
            updated_at=c.updated_at,
            updated_by=c.updated_by,
        )
        for c, ver in svc.channels_of(session, pkg)
    ]


@router.put("/projects/{project}/packages/{name}/channels/{channel}", response_model=ChannelOut)
def set_channel(
    project: str, name: str, channel: str, body: ChannelIn, principal: CurrentPrincipal, session: SessionDep
) -> ChannelOut:
    pkg = svc.get_package(session, principal, project, name)
    c = svc.set_channel(session, principal, pkg, channel, body.version)
    return ChannelOut(
        package=f"{project}/{name}",
        channel=c.name,
        version=body.version,
        protected=c.name in (pkg.project.protected_channels or []),
        updated_at=c.updated_at,
        updated_by=c.updated_by,
    )


@router.delete("/projects/{project}/packages/{name}/channels/{channel}", status_code=status.HTTP_204_NO_CONTENT)
def remove_channel(project: str, name: str, channel: str, principal: CurrentPrincipal, session: SessionDep) -> None:
    pkg = svc.get_package(session, principal, project, name)
    svc.remove_channel(session, principal, pkg, channel)


@router.get(
    "/projects/{project}/packages/{name}/versions/{version}/files/{path:path}",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "the file's bytes"}},
)
def download(
    project: str, name: str, version: str, path: str, principal: CurrentPrincipal, session: SessionDep, request: Request
) -> StreamingResponse:
    pkg = svc.get_package(session, principal, project, name)
    v = svc.get_version(session, principal, pkg, version)
    match = next((f for f in v.files if f.path == path), None)
    if match is None:
        raise NotFoundError(f"file {path!r} not found in {name}@{version}")
    stream = open_stream(match.url, policy_of(request.app.state))
    headers = {"X-Pitlane-MD5": match.md5, "X-Pitlane-Size": str(match.size)}
    return StreamingResponse(stream, media_type="application/octet-stream", headers=headers)
