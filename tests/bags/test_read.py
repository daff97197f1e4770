"""read_messages / decode: time-ordered raw messages, topic globs, [start, end) filtering, split bags."""

from __future__ import annotations

import pytest

from tests.bags.truth import BAGS, NONEMPTY, full_read
from toolkit.bags import decode, read_messages
from toolkit.bags.types import UndecodableError


@pytest.mark.parametrize("rel", NONEMPTY)
def test_read_everything_equals_reference(rel: str) -> None:
    got = list(read_messages(BAGS / rel))
    stamps = [m.timestamp_ns for m in got]
    assert stamps == sorted(stamps)
    ref = sorted((m.topic, m.timestamp_ns, m.data) for m in full_read(BAGS / rel))
    assert sorted((m.topic, m.timestamp_ns, m.data) for m in got) == ref


def test_filters_are_closed_ranges_and_topics_take_globs() -> None:
    bag = BAGS / "ros2_sqlite3/wbag_split5"
    truth = full_read(bag)
    lo, hi = 1500, 2500
    got = list(read_messages(bag, topics=["A*", "CCC"], start_ns=lo, end_ns=hi))
    expected = [
        (m.topic, m.timestamp_ns, m.data) for m in truth if m.topic in {"AAA", "CCC"} and lo <= m.timestamp_ns <= hi
    ]
    assert sorted((m.topic, m.timestamp_ns, m.data) for m in got) == sorted(expected)
    assert {m.topic for m in got} == {"AAA", "CCC"}


def test_message_unpacks_as_a_tuple_and_decodes() -> None:
    first = next(iter(read_messages(BAGS / "ros1/fake_sensors_sample.bag", topics=["/my_temperature"])))
    topic, msgtype, timestamp_ns, data, connection = first
    assert (topic, msgtype) == ("/my_temperature", "sensor_msgs/msg/Temperature")
    assert connection.encoding == "ros1" and isinstance(data, bytes) and timestamp_ns > 0
    msg = decode(first)
    assert isinstance(msg.temperature, float)  # type: ignore[attr-defined]


def test_cdr_messages_decode() -> None:
    msgs = list(read_messages(BAGS / "mcap/bare_multiple_files_0.mcap"))
    assert decode(msgs[0]).data == "test"  # type: ignore[attr-defined]


def test_undecodable_types_still_read_raw() -> None:
    msgs = list(read_messages(BAGS / "sensors/velodyne_vlp16_packets"))
    assert len(msgs) == 4 and all(len(m.data) > 1206 for m in msgs)
    with pytest.raises(UndecodableError, match="velodyne_msgs"):
        decode(msgs[0])


def test_unknown_topic_yields_nothing() -> None:
    assert list(read_messages(BAGS / "ros1/fake_sensors_sample.bag", topics=["/none"])) == []
