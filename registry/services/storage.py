"""Reading a package file's bytes from where its version says they are.

Only locations under the admin's ``allowed_storage`` are opened (see
registry.core.policy). Local paths and ``file://`` URLs (a DVC local remote an
admin opted in) are read directly; ``s3://`` objects (a DVC S3 remote) through botocore with the
standard AWS environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_ENDPOINT_URL`` for MinIO/SeaweedFS). The server does not verify
hashes while streaming; the client does, against the recorded md5.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

from registry.core.policy import Policy, canonical_url
from toolkit.errors import NotFoundError, UserError

CHUNK = 1024 * 1024


def _local_path(url: str) -> Path | None:
    canon = canonical_url(url)
    if canon is not None and canon.startswith("file://"):
        return Path(canon.removeprefix("file://"))
    return None


def _read_local(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


def _s3_client():  # type: ignore[no-untyped-def]
    import botocore.session

    session = botocore.session.get_session()
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"
    return session.create_client("s3", endpoint_url=endpoint, region_name=region)


def _read_s3(bucket: str, key: str) -> Iterator[bytes]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        body = _s3_client().get_object(Bucket=bucket, Key=key)["Body"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in {"NoSuchKey", "404", "NoSuchBucket"}:
            raise NotFoundError(f"object s3://{bucket}/{key} is missing from the remote") from None
        raise UserError(f"cannot read s3://{bucket}/{key}: {code or exc}") from None
    except BotoCoreError as exc:
        raise UserError(f"cannot read s3://{bucket}/{key}: {exc}") from None
    return _drain(body)


def _drain(body) -> Iterator[bytes]:  # type: ignore[no-untyped-def]
    try:
        yield from body.iter_chunks(CHUNK)
    finally:
        body.close()


def open_stream(url: str, policy: Policy | None = None) -> Iterator[bytes]:
    """An iterator over the bytes at ``url``; NotFoundError when they are gone or outside allowed storage."""
    if not (policy or Policy.from_settings()).storage_allows(url):
        # Checked on every read, not only at publish: the allowlist may have shrunk since.
        raise NotFoundError("the file has no downloadable location in this registry's allowed storage")
    local = _local_path(url)
    if local is not None:
        if not local.is_file():
            raise NotFoundError("the file's bytes are not available on the registry (missing from its storage)")
        return _read_local(local)
    parsed = urlparse(url)
    if parsed.scheme == "s3" and parsed.netloc:
        return _read_s3(parsed.netloc, parsed.path.lstrip("/"))
    raise NotFoundError("the file has no downloadable location recorded")
