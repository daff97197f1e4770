"""Derived signals on real bags agree with a plain decode loop (rosbags' own reader, no toolkit code)."""

from __future__ import annotations

import math

import numpy as np
from rosbags.rosbag1 import Reader
from rosbags.typesys import Stores, get_typestore

from tests.bags.truth import BAGS
from toolkit.bags.signals import DEFAULT_PERIOD_NS, extract, resample

HUSKY = BAGS / "sensors/husky_gps_imu.bag"


def _plain_decode(path):
    """(topic -> [(t, decoded)]) for the three known topics of the husky bag."""
    store = get_typestore(Stores.ROS1_NOETIC)
    out: dict[str, list[tuple[int, object]]] = {}
    with Reader(path) as r:
        for conn, t, data in r.messages():
            if conn.msgtype in ("nav_msgs/msg/Odometry", "sensor_msgs/msg/Imu", "sensor_msgs/msg/NavSatFix"):
                out.setdefault(conn.topic, []).append((t, store.deserialize_ros1(data, conn.msgtype)))
    return out


def _bins(samples: list[tuple[int, float]], t0: int, n: int) -> np.ndarray:
    sums, counts = np.zeros(n), np.zeros(n)
    for t, v in samples:
        k = (t - t0) // DEFAULT_PERIOD_NS
        sums[k] += v
        counts[k] += 1
    with np.errstate(invalid="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def test_husky_series_matches_a_plain_decode_loop() -> None:
    series = resample(extract(HUSKY))
    plain = _plain_decode(HUSKY)
    odom = plain["/husky_velocity_controller/odom"]
    imu = plain["/imu/data"]
    fixes = [(t, m) for t, m in plain["/fix"] if m.status.status >= 0 and math.isfinite(m.latitude)]
    t0 = min(odom[0][0], imu[0][0], fixes[0][0])
    n = len(series)
    assert int(series.t_ns[0]) == t0 and n == (max(odom[-1][0], imu[-1][0], fixes[-1][0]) - t0) // DEFAULT_PERIOD_NS + 1
    assert np.array_equal(series.t_ns, t0 + np.arange(n) * DEFAULT_PERIOD_NS)
    speed = _bins([(t, math.hypot(m.twist.twist.linear.x, m.twist.twist.linear.y)) for t, m in odom], t0, n)
    yaw = _bins([(t, m.angular_velocity.z) for t, m in imu], t0, n)
    lat = _bins([(t, m.latitude) for t, m in fixes], t0, n)
    lon = _bins([(t, m.longitude) for t, m in fixes], t0, n)
    for name, want in [("speed_mps", speed), ("yaw_rate_rps", yaw), ("lat", lat), ("lon", lon)]:
        np.testing.assert_allclose(series.columns[name], want, rtol=0, atol=1e-12, equal_nan=True, err_msg=name)
    assert np.count_nonzero(~np.isnan(series.columns["speed_mps"])) > 3000  # real data, not NaN everywhere
    assert series.sources == {
        "speed_mps": "/husky_velocity_controller/odom",
        "accel_mps2": "/husky_velocity_controller/odom",
        "yaw_rate_rps": "/imu/data",
        "lat": "/fix",
        "lon": "/fix",
    }


def test_husky_raw_samples_are_the_decoded_values_at_their_stamps() -> None:
    ex = extract(HUSKY)
    plain = _plain_decode(HUSKY)
    imu = plain["/imu/data"]
    s = ex.samples["yaw_rate"]
    assert s.t.tolist() == [t for t, _ in imu]
    assert s.v.tolist() == [m.angular_velocity.z for _, m in imu]
    a = ex.samples["imu_accel"]
    assert a.v.tolist() == [m.linear_acceleration.x for _, m in imu]
    trace = ex.topics["/imu/data"]
    assert trace.header_stamps is not None
    assert trace.header_stamps.tolist() == [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for _, m in imu]


def test_every_topic_gets_stamps_and_sizes_without_decoding() -> None:
    path = BAGS / "ros1/turtlesim_example.bag"
    ex = extract(path)
    with Reader(path) as r:
        want: dict[str, list[tuple[int, int]]] = {}
        for conn, t, data in r.messages():
            want.setdefault(conn.topic, []).append((t, len(data)))
    assert sorted(ex.topics) == sorted(want)
    for topic, rows in want.items():
        trace = ex.topics[topic]
        assert list(zip(trace.stamps.tolist(), trace.sizes.tolist(), strict=True)) == rows, topic
    # Twist (cmd_vel) is the only speed source here: the busier of the two turtles is chosen.
    assert ex.samples["speed"].topic == "/turtle1/cmd_vel"


def test_a_bag_without_known_types_has_an_empty_series() -> None:
    ex = extract(BAGS / "ros1/fake_sensors_sample.bag")
    assert ex.samples == {} and set(ex.topics) == {"/my_magnetic_field", "/my_temperature"}
    assert len(resample(ex)) == 0


def _every_known_message(path):
    from toolkit.bags.read import BagReader
    from toolkit.bags.signals import KNOWN_TYPES
    from toolkit.bags.types import decode_bytes

    with BagReader(path) as reader:
        conns = [c for c in reader.connections if c.msgtype in KNOWN_TYPES]
        for m in reader.messages(conns):
            yield m, decode_bytes(m.connection, m.data)


def test_fast_field_readers_equal_full_deserialization(tmp_path) -> None:
    from tests.data.drives import random_drive, write_drive
    from toolkit.bags.fastfields import fast_reader, fields_of

    bags = [HUSKY, BAGS / "ros1/turtlesim_example.bag"]
    for fmt in ("ros2", "mcap"):  # CDR, little endian, with header strings of odd lengths
        bags.append(write_drive(random_drive(5, 10**18, duration_s=45), tmp_path / f"d_{fmt}", fmt))
    checked: dict[str, int] = {}
    for bag in bags:
        for m, msg in _every_known_message(bag):
            read = fast_reader(m.msgtype, m.connection.encoding)
            assert read is not None, m.msgtype
            assert read(m.data) == fields_of(msg, m.msgtype), (bag, m.topic)
            checked[f"{m.connection.encoding}:{m.msgtype}"] = checked.get(f"{m.connection.encoding}:{m.msgtype}", 0) + 1
    assert set(checked) >= {
        "ros1:sensor_msgs/msg/Imu",
        "ros1:nav_msgs/msg/Odometry",
        "ros1:sensor_msgs/msg/NavSatFix",
        "ros1:geometry_msgs/msg/Twist",
        "cdr:sensor_msgs/msg/Imu",
        "cdr:nav_msgs/msg/Odometry",
        "cdr:sensor_msgs/msg/NavSatFix",
    }


def test_payloads_the_fast_reader_cannot_read_go_to_rosbags() -> None:
    import pytest

    from toolkit.bags.fastfields import fast_reader

    with pytest.raises(ValueError):
        fast_reader("sensor_msgs/msg/Imu", "cdr")(b"\x00\x07\x00\x00" + bytes(400))  # XCDR2: not read directly
    assert fast_reader("sensor_msgs/msg/Temperature", "cdr") is None


def test_a_damaged_bag_read_by_scan_gives_time_ordered_traces(tmp_path) -> None:
    cut = tmp_path / "cut.bag"
    cut.write_bytes(HUSKY.read_bytes()[: HUSKY.stat().st_size // 3])
    ex = extract(cut)
    assert ex.topics["/imu/data"].stamps.size > 1000
    for trace in ex.topics.values():
        assert np.all(np.diff(trace.stamps) >= 0)
    series = resample(ex)
    assert len(series) > 1000 and np.all(np.diff(series.t_ns) == DEFAULT_PERIOD_NS)
