"""toolkit.client: embedded and remote registries; pull from a real S3 remote (SeaweedFS)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from registry.main import create_app
from registry.services.tokens import bootstrap_admin
from tests.services.browser import serve_app
from tests.services.s3 import S3Server
from toolkit.client import RegistryClient, connect, raise_for_status
from toolkit.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RegistryError,
    UserError,
)


def _put(s3: S3Server, key: str, data: bytes) -> str:
    import botocore.session

    client = botocore.session.get_session().create_client(
        "s3",
        endpoint_url=s3.endpoint,
        region_name="us-east-1",
        aws_access_key_id=s3.access_key,
        aws_secret_access_key=s3.secret_key,
    )
    client.put_object(Bucket=s3.bucket, Key=key, Body=data)
    return f"s3://{s3.bucket}/{key}"


def test_pull_streams_from_an_s3_dvc_remote(
    s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in {**s3_server.env(), "AWS_ENDPOINT_URL": s3_server.endpoint}.items():
        monkeypatch.setenv(k, v)
    weights = bytes(range(256)) * 20_000  # 5 MB: several chunks
    md5 = hashlib.md5(weights).hexdigest()
    url = _put(s3_server, f"client-test/files/md5/{md5[:2]}/{md5[2:]}", weights)
    with connect() as client:
        assert client.embedded
        client.create_project("perception")
        client.publish(
            "perception", "detector", "v1", [{"path": "model.pt", "md5": md5, "size": len(weights), "url": url}]
        )
        client.publish(
            "perception",
            "detector",
            "v2",
            [
                {
                    "path": "model.pt",
                    "md5": md5,
                    "size": len(weights),
                    "url": f"s3://{s3_server.bucket}/client-test/missing",
                }
            ],
        )
        version = client.pull("detector@v1", tmp_path / "out")
        assert version.version == "v1"
        assert (tmp_path / "out" / "model.pt").read_bytes() == weights
        with pytest.raises(NotFoundError, match="missing from the remote"):
            client.pull("detector@v2", tmp_path / "out2")
        assert not (tmp_path / "out2").exists()


def test_remote_client_maps_http_errors(tmp_path: Path) -> None:
    app = create_app(database_url=f"sqlite:///{tmp_path / 'server.db'}")
    with app.state.db.transaction() as s:
        token = bootstrap_admin(s).token
    blob = tmp_path / "m.pt"
    blob.write_bytes(b"abc")
    with serve_app(app) as url, RegistryClient(url, token) as admin:
        assert not admin.embedded
        admin.create_project("perception")
        f = [{"path": "m.pt", "md5": hashlib.md5(b"abc").hexdigest(), "size": 3, "url": str(blob)}]
        assert admin.publish("perception", "detector", "v1", f).version == "v1"
        assert admin.publish("perception", "detector", "v1", f).version == "v1"  # idempotent
        with pytest.raises(ConflictError, match="immutable"):
            admin.publish("perception", "detector", "v1", [{**f[0], "size": 4}])
        with pytest.raises(NotFoundError):
            admin.resolve("detector@v9")
        with pytest.raises(UserError):
            admin.resolve("bad ref")
        admin.create_user("vic")
        admin.grant_role("perception", "vic", "viewer")
        vic_token = admin.create_token("vic", user="vic").token
        with RegistryClient(url, vic_token) as vic:
            with pytest.raises(PermissionDeniedError):
                vic.set_channel("perception", "detector", "production", "v1")
            vic.pull("perception/detector@v1", tmp_path / "pulled")
            assert (tmp_path / "pulled" / "m.pt").read_bytes() == b"abc"
        with RegistryClient(url, "plt_000000000000_nope") as bad, pytest.raises(AuthenticationError):
            bad.list_packages()
    with RegistryClient(url, token) as gone, pytest.raises(RegistryError, match="cannot reach"):
        gone.health()


def test_unknown_5xx_becomes_registry_error() -> None:
    import httpx

    with pytest.raises(RegistryError, match="HTTP 503"):
        raise_for_status(httpx.Response(503, json={"error": {"code": "x", "message": "down"}}))
    with pytest.raises(AuthenticationError, match="who are you"):
        raise_for_status(httpx.Response(401, json={"error": {"code": "unauthenticated", "message": "who are you"}}))
