"""Parse slice bounds: absolute nanoseconds, ISO datetimes, or offsets from the bag's start (or end).

Accepted spellings (``bag_start_ns``/``bag_end_ns`` from the bag's index):

- ``1432235498025043042``: absolute ns since the epoch (an integer of 16+ digits)
- ``2015-05-21T19:11:38Z``, ``2015-05-21 19:11:38.5+02:00``: ISO 8601; no zone means UTC
- ``10.5``, ``+5s``, ``+250ms``, ``1m30s``, ``+2h``: offset from the bag start
- ``-5s``: offset back from the bag end
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from toolkit.errors import SliceRangeError

_UNITS_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|ms|h|m|s)")
_ABSOLUTE_DIGITS = 16  # 1e15 ns is 1970-01-12: integers this long are timestamps, not offsets


def parse_time_bound(text: str | int | datetime, bag_start_ns: int, bag_end_ns: int | None = None) -> int:
    """Resolve one bound to absolute nanoseconds; raises SliceRangeError (one line) when it does not parse."""
    if isinstance(text, datetime):
        return _datetime_ns(text)
    if isinstance(text, int):
        return text
    raw = text.strip()
    if not raw:
        raise SliceRangeError("empty time bound")
    if re.fullmatch(r"\d+", raw) and len(raw) >= _ABSOLUTE_DIGITS:
        return int(raw)
    sign = raw[0] if raw[0] in "+-" else ""
    body = raw[1:].strip() if sign else raw
    offset = _offset_ns(body)
    if offset is not None:
        if sign == "-":
            if bag_end_ns is None:
                raise SliceRangeError(f"time bound {text!r} counts back from the bag end, which is unknown")
            return bag_end_ns - offset
        return bag_start_ns + offset
    try:
        return _datetime_ns(datetime.fromisoformat(raw))
    except ValueError:
        pass
    raise SliceRangeError(
        f"cannot parse time bound {text!r} (use ns since epoch, an ISO datetime, or an offset like +5s or 10.5)"
    )


def _offset_ns(body: str) -> int | None:
    if re.fullmatch(r"\d+(?:\.\d*)?|\.\d+", body):
        return round(float(body) * 1e9)
    compact = body.replace(" ", "")
    parts = _PART.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        return None
    return sum(round(float(n) * _UNITS_NS[u]) for n, u in parts)


def _datetime_ns(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
