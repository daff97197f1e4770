"""Remote URL matching and webhook signatures (pure functions, no services)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from registry.api.routes.webhooks import signature, verify_signature
from registry.services.remotes import normalize_url


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://github.com/Acme/exp.git", "https://GitHub.com/Acme/exp"),
        ("git@github.com:Acme/exp.git", "https://github.com/Acme/exp/"),
        ("ssh://git@github.com/Acme/exp.git", "git://github.com/Acme/exp"),
        ("https://token@github.com/Acme/exp", "https://github.com/Acme/exp.git"),
        ("/srv/git/exp.git", "file:///srv/git/exp.git/"),
    ],
)
def test_same_repository_spelled_differently(a: str, b: str) -> None:
    assert normalize_url(a) == normalize_url(b)


def test_different_repositories_stay_different() -> None:
    assert normalize_url("https://github.com/acme/exp") != normalize_url("https://github.com/acme/exp2")
    assert normalize_url("https://github.com/acme/exp") != normalize_url("https://gitlab.com/acme/exp")
    # Paths keep their case (hosts do not).
    assert normalize_url("https://github.com/Acme/exp") != normalize_url("https://github.com/acme/exp")


def test_signature_is_github_hmac_sha256() -> None:
    body = b'{"ref": "refs/tags/x@v1"}'
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert signature("s3cret", body) == expected
    assert verify_signature("s3cret", body, expected)
    assert not verify_signature("s3cret", body + b" ", expected)
    assert not verify_signature("s3cret", body, None)
    assert not verify_signature(None, body, expected)
    assert not verify_signature("", body, signature("", body))  # an empty secret is no secret
