"""Registry settings: the toolkit's PITLANE_* settings plus what only the server needs."""

from __future__ import annotations

from toolkit.config import Settings, get_settings

API_PREFIX = "/api/v1"
SESSION_COOKIE = "pitlane_session"
# Channels only maintainers (and above) may move; projects may extend the list.
DEFAULT_PROTECTED_CHANNELS = ("production",)

__all__ = ["API_PREFIX", "DEFAULT_PROTECTED_CHANNELS", "SESSION_COOKIE", "Settings", "get_settings"]
