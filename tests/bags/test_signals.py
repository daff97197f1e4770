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
