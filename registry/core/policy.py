"""What a network-facing registry may open or fetch: only locations an admin configured.

A package file's bytes are read only from under ``allowed_storage`` (URL
prefixes such as ``s3://models/`` or ``file:///srv/dvc/``) and Git is
fetched only from under ``allowed_remotes`` (default: any ``https://`` or
``ssh://`` host). URLs from requests and from Git tags are data: they are
checked against these prefixes when stored and again when opened, so a row
written before an admin narrowed the list is refused too.

Matching is on a canonical form: a scheme, a lower-cased host, and a path
without ``.``/``..`` segments (local paths also with symlinks resolved);
URLs with a query, a fragment, control characters or backslashes never
match. Embedded mode (no socket) trusts the local user's own files.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from toolkit.config import Settings, get_settings
from toolkit.errors import UserError

_SCP = re.compile(r"(?P<user>[\w.-]+)@(?P<host>[\w.-]+):(?P<path>[^/].*|/.*)")
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")
STORAGE_SCHEMES = frozenset({"s3", "file", "https", "http"})
GIT_SCHEMES = frozenset({"https", "http", "ssh", "git", "file"})


def canonical_url(url: str, *, resolve_local: bool = True) -> str | None:
    """``scheme://host/path`` with the path normalised, or None when the text is no safe URL."""
    text = url.strip()
    if not text or _UNSAFE.search(text):
        return None
    if text.startswith("/"):
        text = "file://" + text
    elif "://" not in text and (m := _SCP.fullmatch(text)):
        text = f"ssh://{m['user']}@{m['host']}/{m['path'].lstrip('/')}"
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if not scheme or parts.query or parts.fragment or "#" in text or "?" in text:
        return None
    raw_path = unquote(parts.path)
    segments = raw_path.split("/")
    if any(s in {".", ".."} for s in segments) or _UNSAFE.search(raw_path):
        return None
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not raw_path.startswith("/"):
            return None
        path = os.path.realpath(raw_path) if resolve_local else os.path.normpath(raw_path)
        if raw_path.endswith("/") and not path.endswith("/"):
            path += "/"
        return f"file://{path}"
    if not parts.netloc:
        return None
    return f"{scheme}://{parts.netloc.lower()}{raw_path}"


def _scheme_only(prefix: str) -> str | None:
    m = re.fullmatch(r"([a-z][a-z0-9+.-]*)://", prefix.strip().lower())
    return m[1] if m else None


def matches(url: str, prefixes: tuple[str, ...], schemes: frozenset[str]) -> bool:
    """True when ``url`` lies under one of ``prefixes`` (a whole path segment, never a partial name)."""
    canon = canonical_url(url)
    if canon is None:
        return False
    scheme = canon.split("://", 1)[0]
    if scheme not in schemes:
        return False
    for prefix in prefixes:
        only = _scheme_only(prefix)
        if only is not None:
            if scheme == only:
                return True
            continue
        base = canonical_url(prefix)
        if base is None:
            continue
        if canon == base or canon.startswith(base if base.endswith("/") else base + "/"):
            return True
    return False


@dataclass(frozen=True)
class Policy:
    storage: tuple[str, ...] = ()
    remotes: tuple[str, ...] = ("https://", "ssh://")
    trust_local: bool = False  # embedded mode: the caller is the machine's own user

    @classmethod
    def from_settings(cls, settings: Settings | None = None, *, embedded: bool = False) -> Policy:
        s = settings or get_settings()
        return cls(tuple(s.allowed_storage), tuple(s.allowed_remotes), trust_local=embedded)

    def storage_allows(self, url: str) -> bool:
        if self.trust_local and canonical_url(url) is not None:
            return True
        return matches(url, self.storage, STORAGE_SCHEMES)

    def remote_allows(self, url: str) -> bool:
        if self.trust_local and canonical_url(url) is not None:
            return True
        return matches(url, self.remotes, GIT_SCHEMES)

    def check_storage(self, url: str, what: str = "file location") -> str:
        if url and not self.storage_allows(url):
            raise UserError(
                f"{what} {url[:200]!r} is outside the storage this registry may read "
                "(an admin lists it in PITLANE_ALLOWED_STORAGE)"
            )
        return url

    def check_remote(self, url: str, what: str = "Git URL") -> str:
        if not self.remote_allows(url):
            raise UserError(
                f"{what} {url[:200]!r} is not one this registry may fetch "
                "(an admin lists it in PITLANE_ALLOWED_REMOTES)"
            )
        return url


def policy_of(state: object) -> Policy:
    """The app's policy (``app.state.policy``), else one read from the environment now."""
    found = getattr(state, "policy", None)
    return found if isinstance(found, Policy) else Policy.from_settings()
