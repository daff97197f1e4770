"""Release signatures: Ed25519 over the canonical manifest, checked against a project's trust roots.

Why Ed25519 from ``cryptography`` rather than OpenSSF ``model-signing``: model-signing pulls in
sigstore and its network-facing dependency tree, none of which is in the offline lock, while
``cryptography`` already is. The signed payload is the manifest itself (every file's sha256, the
run record's sha256), so a signature covers every byte a release names.

Trust roots are public keys with the time they were added and, once revoked, the revocation time.
A rotation revokes the old key at the rotation time: versions it signed before then stay verified,
anything it signs afterwards is invalid. The signing time is the manifest's ``created_at``, which
the signature covers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from toolkit.errors import ReleaseError

ALG = "ed25519"
KEY_ENV = "PITLANE_SIGNING_KEY"

Status = Literal["verified", "unsigned", "invalid"]


@dataclass(frozen=True)
class TrustRoot:
    keyid: str
    public_pem: str
    added_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class Verdict:
    status: Status
    signer: str | None = None
    reason: str = ""


def keyid(public: Ed25519PublicKey) -> str:
    """First 16 hex digits of the sha256 of the raw public key: short, stable, printable."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def create_key(path: Path) -> tuple[str, str]:
    """Write a new private key (PEM, mode 0600) to ``path``; return (keyid, public PEM)."""
    if path.exists():
        raise ReleaseError(f"{path} exists; not overwriting a key")
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return keyid(private.public_key()), public_pem(private.public_key())


def public_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ReleaseError(f"signing key {path} cannot be read: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ReleaseError(f"signing key {path} is not an Ed25519 key")
    return key


def load_public_key(pem: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError as exc:
        raise ReleaseError(f"public key is not PEM: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ReleaseError("public key is not an Ed25519 key")
    return key


def configured_key() -> Path | None:
    """The project's signing key from the environment; none means releases stay unsigned."""
    value = os.environ.get(KEY_ENV, "").strip()
    return Path(value) if value else None


def payload(manifest: dict[str, Any]) -> bytes:
    """The signed bytes: the manifest without its signature, canonical JSON."""
    body = {k: v for k, v in manifest.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(manifest: dict[str, Any], private: Ed25519PrivateKey) -> dict[str, str]:
    """The ``signature`` object to store in the manifest."""
    sig = private.sign(payload(manifest))
    return {"alg": ALG, "keyid": keyid(private.public_key()), "sig": base64.b64encode(sig).decode()}


def _signed_at(manifest: dict[str, Any]) -> datetime | None:
    raw = manifest.get("created_at")
    if not isinstance(raw, str):
        return None
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def verify(manifest: dict[str, Any], roots: list[TrustRoot]) -> Verdict:
    """Whether a manifest is signed by one of the trust roots, valid at its signing time."""
    sig = manifest.get("signature")
    if not sig:
        return Verdict("unsigned")
    if not isinstance(sig, dict) or sig.get("alg") != ALG or not isinstance(sig.get("sig"), str):
        return Verdict("invalid", reason="malformed signature")
    kid = sig.get("keyid")
    root = next((r for r in roots if r.keyid == kid), None)
    if root is None:
        return Verdict("invalid", signer=str(kid), reason=f"key {kid} is not a trust root of this project")
    try:
        load_public_key(root.public_pem).verify(base64.b64decode(sig["sig"], validate=True), payload(manifest))
    except (InvalidSignature, ValueError, ReleaseError):
        return Verdict("invalid", signer=root.keyid, reason="signature does not match the manifest")
    when = _signed_at(manifest)
    if when is None:
        return Verdict("invalid", signer=root.keyid, reason="manifest has no signing time")
    if root.revoked_at is not None and when >= _aware(root.revoked_at):
        return Verdict("invalid", signer=root.keyid, reason=f"key {root.keyid} was revoked before this was signed")
    return Verdict("verified", signer=root.keyid)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()
