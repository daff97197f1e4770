"""parse_time_bound: absolute ns, ISO datetimes, offsets from start, offsets back from the end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from toolkit.bags import parse_time_bound
from toolkit.errors import SliceRangeError

START = 1_432_235_498_025_043_042
END = START + 395_000_000_000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1432235500000000000", 1_432_235_500_000_000_000),
        ("10", START + 10_000_000_000),
        ("10.5", START + 10_500_000_000),
        (".25", START + 250_000_000),
        ("+5s", START + 5_000_000_000),
        ("+250ms", START + 250_000_000),
        ("+1m30s", START + 90_000_000_000),
        ("2h", START + 7_200_000_000_000),
        ("+100us", START + 100_000),
        ("+7ns", START + 7),
        ("-5s", END - 5_000_000_000),
        ("2015-05-21T19:12:00Z", 1_432_235_520_000_000_000),
        ("2015-05-21T19:12:00", 1_432_235_520_000_000_000),  # no zone: UTC
        ("2015-05-21T21:12:00.5+02:00", 1_432_235_520_500_000_000),
    ],
)
def test_spellings(text: str, expected: int) -> None:
    assert parse_time_bound(text, START, END) == expected


def test_ints_and_datetimes_pass_through() -> None:
    assert parse_time_bound(123, START) == 123
    dt = datetime(2015, 5, 21, 19, 12, tzinfo=timezone(timedelta(hours=-4)))
    assert parse_time_bound(dt, START) == int(dt.astimezone(UTC).timestamp()) * 1_000_000_000


@pytest.mark.parametrize("text", ["", "soon", "5 parsecs", "+5x", "1s2", "2015-13-45"])
def test_garbage_is_one_line_error(text: str) -> None:
    with pytest.raises(SliceRangeError) as err:
        parse_time_bound(text, START, END)
    assert "\n" not in str(err.value)


def test_from_end_needs_the_end() -> None:
    with pytest.raises(SliceRangeError, match="bag end"):
        parse_time_bound("-5s", START)
