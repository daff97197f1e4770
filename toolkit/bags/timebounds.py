"""Time ranges over a bag: one boundary rule, and the parsing of slice bounds.

The rule, used by every reader, slicer, frame extractor and index in Pitlane:

- A range is closed: a message is in ``[start, end]`` when ``start <= t <= end``; every message
  on a boundary timestamp is in, however many share it.
- ``t`` is the time the bag stores with the message (ROS 1 record time, rosbag2 receive
  timestamp, MCAP ``log_time``), never ``header.stamp``.
- A missing bound means no bound on that side: the whole bag, whatever its index claims as start
  or end. Timestamp 0 is a valid stamp like any other (bounds are tested with ``is None``).
- Order inside a range is by that timestamp; messages out of order across chunks or files are
  merged into time order.

Accepted spellings (``bag_start_ns``/``bag_end_ns`` from the bag's index):

- ``1432235498025043042``: absolute ns since the epoch (an integer of 16+ digits)
- ``2015-05-21T19:11:38Z``, ``2015-05-21 19:11:38.5+02:00``: ISO 8601; no zone means UTC
- ``10.5``, ``+5s``, ``+250ms``, ``1m30s``, ``+2h``: offset from the bag start
- ``-5s``: offset back from the bag end
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from toolkit.errors import SliceRangeError

_UNITS_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|ms|h|m|s)")
_ABSOLUTE_DIGITS = 16  # 1e15 ns is 1970-01-12: integers this long are timestamps, not offsets

# Widest stamps any supported format stores: rosbag2 uses int64, ROS 1 (sec, nsec) u32 pairs and MCAP u64.
MIN_NS = -(2**63)
MAX_NS = 2**64 - 1
INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class TimeRange:
    """A closed range ``lo <= t <= hi``; ``None`` leaves that side open."""

    lo: int | None = None
    hi: int | None = None

    @property
    def unbounded(self) -> bool:
        return self.lo is None and self.hi is None

    def contains(self, t: int) -> bool:
        return (self.lo is None or t >= self.lo) and (self.hi is None or t <= self.hi)

    def stop(self) -> int | None:
        """The exclusive upper bound (``hi + 1``) for APIs that take one (mcap ``ending_before``, rosbags ``stop``)."""
        return None if self.hi is None else self.hi + 1

    def closed(self, lo: int = MIN_NS, hi: int = MAX_NS) -> tuple[int, int]:
        """Both ends as integers, open sides widened to *lo* / *hi* (e.g. int64 limits for SQL)."""
        return (lo if self.lo is None else max(self.lo, lo), hi if self.hi is None else min(self.hi, hi))


def resolve_range(
    start: str | int | datetime | None, end: str | int | datetime | None, bag_start_ns: int, bag_end_ns: int
) -> TimeRange:
    """Slice bounds to a TimeRange: a missing bound stays open (the whole bag on that side)."""
    lo = None if start is None else parse_time_bound(start, bag_start_ns, bag_end_ns)
    hi = None if end is None else parse_time_bound(end, bag_start_ns, bag_end_ns)
    if lo is not None and hi is not None and lo > hi:
        raise SliceRangeError(f"slice start {lo} is after its end {hi}")
    if (lo is not None and lo > bag_end_ns) or (hi is not None and hi < bag_start_ns):
        raise SliceRangeError(
            f"range {_show(lo)}..{_show(hi)} ns lies outside the bag ({bag_start_ns}..{bag_end_ns} ns)"
        )
    return TimeRange(lo, hi)


def _show(bound: int | None) -> str:
    return "" if bound is None else str(bound)


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


def format_ns(t: int) -> str:
    """``2015-05-21T19:11:38.025043042Z``: a stamp as UTC ISO 8601, every nanosecond kept."""
    sec, frac = divmod(t, 1_000_000_000)
    day = datetime.fromtimestamp(sec, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{day}.{frac:09d}Z"


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
