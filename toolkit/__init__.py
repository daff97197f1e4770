"""Pitlane toolkit: the CLI and Python API."""

from __future__ import annotations

from functools import cache


@cache
def _installed_version() -> str:
    # Looked up on first use: scanning installed distributions costs tens of ms at every start-up.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pitlane")
    except PackageNotFoundError:  # running from a source tree without install
        return "0.0.0"


def __getattr__(name: str) -> str:
    if name == "__version__":
        return _installed_version()
    raise AttributeError(f"module 'toolkit' has no attribute {name!r}")
