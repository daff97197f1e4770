"""Signature status at sync, the signed-channel policy, trust-root revocation, and a tampered pull.

Real parts: a Git + DVC experiment, `pitlane release` with a key, sync into SQLite, the API in
process through the client that `pitlane package pull` uses.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from registry.core.config import Settings
from registry.main import create_app
from registry.services import access
from registry.services import packages as pkgs
from registry.services.remotes import register_remote
from registry.services.tokens import bootstrap_admin
from registry.sync import sync_remote
from tests.release.experiment import Experiment, copy_experiment
from toolkit.client import RegistryClient
from toolkit.errors import ConflictError, IntegrityError
from toolkit.release.manifest import PackageManifest
from toolkit.release.release import release
from toolkit.release.signing import create_key

ADMIN = pkgs.system_principal("test-admin")
PROJ = "/projects/perception"


@pytest.fixture
def exp(tmp_path: Path) -> Experiment:
    return copy_experiment(tmp_path)


def _forge(exp: Experiment, signed_tag: str, version: str) -> None:
    """Someone with push rights but no key: copies a signed manifest onto a new tag."""
    message = exp.git("cat-file", "-p", f"refs/tags/{signed_tag}").split("\n\n", 1)[1]
    data = json.loads(message)
    data["version"], data["tag"] = version, f"detector@{version}"
    forged = PackageManifest.model_validate(data).to_message()
    exp.git("tag", "-a", "--cleanup=verbatim", "-m", forged, f"detector@{version}", "HEAD")
    exp.git("push", "-q", "origin", f"refs/tags/detector@{version}")


def test_signed_versions_verify_and_only_verified_ones_enter_production(exp: Experiment, tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'registry.db'}"))
    db = app.state.db
    with db.transaction() as s:
        token = bootstrap_admin(s).token
        access.create_project(s, ADMIN, "perception")
        rid = register_remote(s, ADMIN, "perception", str(exp.remote)).id
    key = tmp_path / "keys" / "ci.pem"
    keyid, pem = create_key(key)

    with RegistryClient(app=app, token=token) as client:
        added = client.request("POST", f"{PROJ}/trust-roots", json={"public_key": pem})
        assert added.status_code == 201 and added.json()["keyid"] == keyid
        release("detector", "1.0.0", repo=exp.path, signing_key=key)
        release("detector", "1.0.1", repo=exp.path)  # no key: unsigned
        _forge(exp, "detector@v1.0.0", "v1.0.2")  # signature copied onto another version: invalid
        report = sync_remote(db, rid, tmp_path / "home")
        assert report.errors == []

        def status(version: str) -> dict[str, str]:
            return client.get_version("perception", "detector", version).model_dump()["signature"]

        assert status("v1.0.0")["status"] == "verified" and status("v1.0.0")["signer"] == keyid
        assert status("v1.0.1")["status"] == "unsigned"
        assert status("v1.0.2")["status"] == "invalid"
        with pytest.raises(IntegrityError, match="signature is invalid"):
            client.pull("perception/detector@v1.0.2", tmp_path / "forged")
        assert not (tmp_path / "forged").exists()

        for bad in ("v1.0.1", "v1.0.2"):
            with pytest.raises(ConflictError, match="accepts only verified versions"):
                client.set_channel("perception", "detector", "production", bad)
        assert client.set_channel("perception", "detector", "production", "v1.0.0").version == "v1.0.0"
        client.set_channel("perception", "detector", "staging", "v1.0.1")  # unprotected channels stay open

        # Revoking the key from before v1.0.0 was signed makes it invalid; a later revocation
        # (a rotation) leaves it verified.
        when = PackageManifest.model_validate(
            client.get_version("perception", "detector", "v1.0.0").manifest
        ).created_at
        revoked = client.request(
            "POST", f"{PROJ}/trust-roots/{keyid}/revoke", json={"revoked_at": (when - timedelta(seconds=1)).isoformat()}
        )
        assert revoked.status_code == 200, revoked.text
        assert status("v1.0.0")["status"] == "invalid"
        assert "revoked" in status("v1.0.0")["reason"]


def test_rotation_keeps_old_versions_verified(exp: Experiment, tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'registry.db'}"))
    db = app.state.db
    with db.transaction() as s:
        token = bootstrap_admin(s).token
        access.create_project(s, ADMIN, "perception")
        rid = register_remote(s, ADMIN, "perception", str(exp.remote)).id
    old_key, new_key = tmp_path / "old.pem", tmp_path / "new.pem"
    old_id, old_pem = create_key(old_key)
    new_id, new_pem = create_key(new_key)
    with RegistryClient(app=app, token=token) as client:
        client.request("POST", f"{PROJ}/trust-roots", json={"public_key": old_pem})
        release("detector", "1.0.0", repo=exp.path, signing_key=old_key)
        # Rotate: the new key joins, the old one is revoked from now on.
        client.request("POST", f"{PROJ}/trust-roots", json={"public_key": new_pem})
        assert client.request("POST", f"{PROJ}/trust-roots/{old_id}/revoke", json={}).status_code == 200
        release("detector", "1.0.1", repo=exp.path, signing_key=new_key)
        release("detector", "1.0.2", repo=exp.path, signing_key=old_key)  # a leaked old key, after rotation
        assert sync_remote(db, rid, tmp_path / "home").errors == []

        def status(version: str) -> dict[str, str]:
            return client.get_version("perception", "detector", version).model_dump()["signature"]

        assert status("v1.0.0") == {"status": "verified", "signer": old_id, "reason": ""}
        assert status("v1.0.1")["status"] == "verified" and status("v1.0.1")["signer"] == new_id
        assert status("v1.0.2")["status"] == "invalid"
        roots = client.request("GET", f"{PROJ}/trust-roots").json()
        assert [(r["keyid"], r["revoked_at"] is not None) for r in roots] == [(old_id, True), (new_id, False)]


def test_pull_refuses_a_model_file_with_one_flipped_byte(exp: Experiment, tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'registry.db'}"))
    db = app.state.db
    with db.transaction() as s:
        token = bootstrap_admin(s).token
        access.create_project(s, ADMIN, "perception")
        rid = register_remote(s, ADMIN, "perception", str(exp.remote)).id
    key = tmp_path / "ci.pem"
    _, pem = create_key(key)
    release("detector", "1.0.0", repo=exp.path, signing_key=key)
    assert sync_remote(db, rid, tmp_path / "home").errors == []
    with RegistryClient(app=app, token=token) as client:
        client.request("POST", f"{PROJ}/trust-roots", json={"public_key": pem})
        assert client.resolve("perception/detector@v1.0.0").signature is not None
        client.pull("perception/detector@v1.0.0", tmp_path / "good")
        assert (tmp_path / "good" / "models" / "model.pt").read_bytes() == (exp.path / "models/model.pt").read_bytes()
        model = next(f for f in client.resolve("perception/detector@v1.0.0").files if f.path == "models/model.pt")
        obj = Path(model.url)
        data = bytearray(obj.read_bytes())
        data[len(data) // 2] ^= 0x01
        obj.chmod(0o644)
        obj.write_bytes(bytes(data))
        with pytest.raises(IntegrityError, match=r"^models/model\.pt: "):
            client.pull("perception/detector@v1.0.0", tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
