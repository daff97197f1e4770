"""What templates may put into a link: only http(s) URLs, whatever a stored row says."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from jinja2 import Environment

_CONTROL = re.compile(r"[\x00-\x20\x7f\\]")


def is_http_url(value: object) -> bool:
    """An absolute http:// or https:// URL with a host and no whitespace or control characters."""
    if not isinstance(value, str) or not value or _CONTROL.search(value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in {"http", "https"} and bool(parts.netloc)


def http_url(value: object) -> str:
    """Jinja filter: the URL when it is http(s), else '' (rows stored before the check, or edited)."""
    return value if isinstance(value, str) and is_http_url(value) else ""


def install(env: Environment) -> None:
    env.filters["http_url"] = http_url
