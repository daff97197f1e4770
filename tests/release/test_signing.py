"""Signed releases: a real `pitlane release` with a key, verified against trust roots."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pygit2
import pytest

from tests.release.experiment import Experiment, copy_experiment
from toolkit.errors import ReleaseError
from toolkit.release.manifest import PackageManifest, file_digests
from toolkit.release.release import release
from toolkit.release.signing import TrustRoot, create_key, load_private_key, sha256_file, sign, verify

EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


@pytest.fixture
def exp(tmp_path: Path) -> Experiment:
    return copy_experiment(tmp_path)


def _root(tmp_path: Path, name: str, revoked_at: datetime | None = None) -> tuple[Path, TrustRoot]:
    path = tmp_path / "keys" / f"{name}.pem"
    kid, pem = create_key(path)
    return path, TrustRoot(kid, pem, EPOCH, revoked_at)


def _tag_manifest(exp: Experiment, tag: str) -> dict[str, object]:
    repo = pygit2.Repository(str(exp.remote))
    obj = repo.get(repo.references[f"refs/tags/{tag}"].target)
    assert isinstance(obj, pygit2.Tag)
    return PackageManifest.from_message(obj.message).model_dump(mode="json", by_alias=True)


def test_signed_release_verifies_and_names_every_file_sha256(exp: Experiment, tmp_path: Path) -> None:
    key, root = _root(tmp_path, "ci")
    release("detector", "1.0.0", repo=exp.path, signing_key=key)
    manifest = _tag_manifest(exp, "detector@v1.0.0")
    assert verify(manifest, [root]).status == "verified"
    assert verify(manifest, [root]).signer == root.keyid
    digests = file_digests(manifest)
    assert set(digests) == {"models/config.json", "models/model.pt"}
    for path, digest in digests.items():
        assert sha256_file(exp.path / path) == digest
    # Not a trust root of this project: invalid, not verified.
    _, stranger = _root(tmp_path, "stranger")
    assert verify(manifest, [stranger]).status == "invalid"


def test_unsigned_release_stays_as_before(exp: Experiment) -> None:
    result = release("detector", "1.0.0", repo=exp.path)
    assert "signature" not in json.loads(result.manifest.to_message())
    assert verify(_tag_manifest(exp, "detector@v1.0.0"), []).status == "unsigned"


def test_manifest_rewritten_without_the_key_is_invalid_or_unsigned(exp: Experiment, tmp_path: Path) -> None:
    key, root = _root(tmp_path, "ci")
    release("detector", "1.0.0", repo=exp.path, signing_key=key)
    manifest = _tag_manifest(exp, "detector@v1.0.0")
    # Someone with push rights re-points the tag to another commit, keeping the old signature ...
    forged = {**manifest, "commit": "0" * 40}
    assert verify(forged, [root]).status == "invalid"
    # ... or swaps a file's digest ...
    files = json.loads(json.dumps(manifest["files"]))
    files[0]["sha256"] = "0" * 64
    assert verify({**manifest, "files": files}, [root]).status == "invalid"
    # ... or drops the signature: unsigned, which a signature-requiring channel refuses too.
    assert verify({k: v for k, v in manifest.items() if k != "signature"}, [root]).status == "unsigned"


def test_rotation_keeps_old_versions_verified_and_revocation_invalidates_later_signatures(tmp_path: Path) -> None:
    rotated_at = datetime(2026, 6, 1, tzinfo=UTC)
    old_key, old_root = _root(tmp_path, "old", revoked_at=rotated_at)
    new_key, new_root = _root(tmp_path, "new")
    roots = [old_root, new_root]

    def signed(key: Path, at: datetime) -> dict[str, object]:
        body: dict[str, object] = {"schema": "pitlane.package/v1", "name": "d", "created_at": at.isoformat()}
        return {**body, "signature": sign(body, load_private_key(key))}

    before = signed(old_key, rotated_at - timedelta(days=1))
    assert verify(before, roots).status == "verified"  # released before the rotation: still good
    after = verify(signed(old_key, rotated_at + timedelta(seconds=1)), roots)
    assert after.status == "invalid" and "revoked" in after.reason
    assert verify(signed(new_key, rotated_at + timedelta(days=1)), roots).status == "verified"


def test_bad_signing_key_fails_before_anything_is_published(exp: Experiment, tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key\n")
    with pytest.raises(ReleaseError, match="signing key"):
        release("detector", "1.0.0", repo=exp.path, signing_key=bad)
    assert not exp.git("ls-remote", "--tags", "origin").strip()
    with pytest.raises(ReleaseError, match="exists"):
        create_key(bad)
