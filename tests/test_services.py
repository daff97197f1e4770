"""The shared service fixtures really start and answer."""

from __future__ import annotations

import httpx

from tests.services.s3 import S3Server


def test_s3_server_answers(s3_server: S3Server) -> None:
    response = httpx.get(f"{s3_server.endpoint}/{s3_server.bucket}", timeout=5)
    # Unsigned request: SeaweedFS answers (403 or 200), proving a live S3 endpoint.
    assert response.status_code in (200, 403)
