"""Generated drives with known ground truth: bags written with rosbags' writers from analytic profiles.

A drive is a piecewise-constant acceleration profile (speed is its integral) plus a yaw-rate
profile; odometry (50 Hz), IMU (100 Hz), GNSS (5 Hz) and a 10 Hz "lidar" topic are sampled
from it, with injected GNSS outages, lidar gaps, rate drops, empty messages and equal stamps,
and late / out-of-order IMU header stamps. The truth of each vehicle event is the analytic
condition itself (e.g. acceleration <= -3 m/s² for >= 0.3 s) evaluated on a 1 ms grid, so it is
independent of the series and detectors under test.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rosbags.typesys import Stores, get_typestore

from toolkit.data.events import EventsConfig

S = 1_000_000_000
MS = 1_000_000


@dataclass
class Truth:
    kind: str
    start_ns: int
    end_ns: int
    topic: str = ""
    detail: str = ""


@dataclass
class Drive:
    t0: int
    duration_s: float
    accel: list[tuple[float, float]]  # (segment start s, m/s²) piecewise constant
    yaw: list[tuple[float, float]]  # (segment start s, rad/s)
    gnss_outages: list[tuple[float, float]] = field(default_factory=list)  # (from s, to s) no fixes
    # Injections on the lidar / IMU grids, as relative ns (all multiples of 100 ms):
    lidar_gaps: list[tuple[int, int]] = field(default_factory=list)  # no lidar messages strictly inside
    lidar_slow: list[tuple[int, int]] = field(default_factory=list)  # 4 Hz instead of 10 Hz
    lidar_empty: list[tuple[int, int]] = field(default_factory=list)  # (from, n empty messages)
    lidar_dups: list[int] = field(default_factory=list)  # a second message with the same stamp
    imu_late: list[tuple[int, int]] = field(default_factory=list)  # header 1 s behind receive time
    imu_back: list[int] = field(default_factory=list)  # header 50 ms before the previous one
    seed: int = 0  # measurement noise: odometry speed σ 0.05 m/s, IMU yaw rate σ 0.02 rad/s, lidar ±5 ms

    def grid(self, step_ns: int) -> np.ndarray:
        return np.arange(0, round(self.duration_s * S) + 1, step_ns, dtype=np.int64)

    def _piecewise(self, segs: list[tuple[float, float]], rel_ns: np.ndarray) -> np.ndarray:
        starts = np.array([round(a * S) for a, _ in segs])
        vals = np.array([v for _, v in segs])
        return vals[np.searchsorted(starts, rel_ns, side="right") - 1]

    def accel_at(self, rel_ns: np.ndarray) -> np.ndarray:
        return self._piecewise(self.accel, rel_ns)

    def yaw_at(self, rel_ns: np.ndarray) -> np.ndarray:
        return self._piecewise(self.yaw, rel_ns)

    def speed_at(self, rel_ns: np.ndarray) -> np.ndarray:
        # Exact integral of the piecewise-constant acceleration (segments keep speed >= 0 by construction).
        starts = [round(a * S) for a, _ in self.accel] + [1 << 62]
        v0 = [0.0]
        for i, (_, a) in enumerate(self.accel[:-1]):
            v0.append(v0[-1] + a * (starts[i + 1] - starts[i]) / S)
        idx = np.searchsorted(np.array(starts[:-1]), rel_ns, side="right") - 1
        acc = np.array([a for _, a in self.accel])[idx]
        return np.maximum(0.0, np.array(v0)[idx] + acc * (rel_ns - np.array(starts)[idx]) / S)


def random_drive(seed: int, t0: int, duration_s: float = 240.0) -> Drive:
    """Cruise / hard brake to a stop / wait / accelerate / gentle brake / turns, in random order and lengths."""
    rng = random.Random(seed)
    accel: list[tuple[float, float]] = [(0.0, 0.0)]
    yaw: list[tuple[float, float]] = [(0.0, 0.0)]
    t, v = 3.0, 0.0  # start standing for 3 s
    while t < duration_s - 40:
        target = max(rng.uniform(12, 28), v + 3)
        a = rng.uniform(1.5, 2.5)
        accel.append((t, a))
        t += (target - v) / a
        v = target
        accel.append((round(t, 2), 0.0))
        t = round(t, 2) + rng.uniform(4, 8)
        # a sharp turn (or a gentle one, which is no event) while cruising
        turn = rng.choice([0.5, -0.6, 0.1])
        yaw.append((round(t, 2), turn))
        t = round(t + rng.uniform(1.5, 3.0), 2)
        yaw.append((t, 0.0))
        t += rng.uniform(3, 6)
        kind = rng.choice(["hard", "gentle", "hard_stop"])
        if kind == "gentle":
            a = -rng.uniform(1.0, 2.0)
            dur = rng.uniform(1.0, 3.0)
            accel.append((round(t, 2), a))
            t = round(t, 2) + dur
            v += a * (t - accel[-1][0])
            accel.append((round(t, 2), 0.0))
            t = round(t, 2) + rng.uniform(3, 6)
            continue
        a = -rng.uniform(4.0, 6.0)
        stop_after = kind == "hard_stop"
        dur = v / -a if stop_after else min(rng.uniform(0.8, 2.0), max(0.4, (v - 4) / -a))
        accel.append((round(t, 2), a))
        t = round(t, 2) + dur
        v = max(0.0, v + a * (t - accel[-1][0]))
        accel.append((round(t, 2) if not stop_after else t, 0.0))
        t = (round(t, 2) if not stop_after else t) + (rng.uniform(3, 8) if stop_after else rng.uniform(3, 5))
        if stop_after:
            v = 0.0
    # slow to a stop at the end
    if v > 0:
        accel.append((round(t, 2), -1.0))
        t = round(t, 2) + v / 1.0
        accel.append((t, 0.0))
    d = Drive(t0=t0, duration_s=max(duration_s, t + 5), accel=accel, yaw=yaw, seed=seed)
    tick = 100 * MS
    for k in range(4):
        a = (20 + k * 50 + rng.randint(0, 200) / 10) * S
        a = round(a / tick) * tick
        d.gnss_outages.append((a / S, a / S + rng.uniform(3, 8)))
        d.lidar_gaps.append((a + 25 * S, a + 25 * S + rng.randint(5, 20) * tick))
        d.lidar_slow.append((a + 35 * S, a + 35 * S + rng.randint(4, 10) * 5 * tick))
        d.lidar_empty.append((a + 45 * S, rng.randint(1, 5)))
        d.lidar_dups.append(a + 10 * S)
        d.imu_late.append((a + 15 * S, a + 15 * S + rng.randint(10, 30) * tick))
        d.imu_back.append(a + 30 * S)
    return d


# --- truth -------------------------------------------------------------------------
def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > 1)
    return list(zip(np.concatenate(([idx[0]], idx[breaks + 1])), np.concatenate((idx[breaks], [idx[-1]])), strict=True))


def vehicle_truth(d: Drive, cfg: EventsConfig) -> list[Truth]:
    rel = d.grid(MS)
    a, v, w = d.accel_at(rel), d.speed_at(rel), d.yaw_at(rel)
    out: list[Truth] = []

    def add(kind: str, mask: np.ndarray, min_s: float, detail: str = "") -> None:
        for i, j in _runs(mask):
            if (rel[j] - rel[i]) >= min_s * S:
                out.append(Truth(kind, d.t0 + int(rel[i]), d.t0 + int(rel[j]), detail=detail))

    add("hard_brake", a <= -cfg.hard_brake.decel_mps2, cfg.hard_brake.min_duration_s)
    add("stop", v <= cfg.stop.max_speed_mps, cfg.stop.min_duration_s)
    add("sharp_turn", (np.abs(w) >= cfg.sharp_turn.yaw_rate_rps) & (v >= cfg.sharp_turn.min_speed_mps), 0.5)
    edges = sorted(cfg.speed_band.edges_kmh)
    for lo, hi in zip(edges, [*edges[1:], float("inf")], strict=True):
        label = f"{lo:g}-{hi:g}kmh" if hi != float("inf") else f">{lo:g}kmh"
        add("speed_band", (v * 3.6 >= lo) & (v * 3.6 < hi), cfg.speed_band.min_duration_s, label)
    fixes = fix_times(d)
    for i in np.flatnonzero(np.diff(fixes) >= cfg.gnss_dropout.min_duration_s * S):
        out.append(Truth("gnss_dropout", d.t0 + int(fixes[i]), d.t0 + int(fixes[i + 1])))
    return out


def fix_times(d: Drive) -> np.ndarray:
    rel = d.grid(200 * MS)
    keep = np.ones(len(rel), dtype=bool)
    for a, b in d.gnss_outages:
        keep &= ~((rel > a * S) & (rel < b * S))
    return rel[keep]


def lidar_stream(d: Drive, jitter: bool = True) -> list[tuple[int, int]]:
    """(relative receive ns, payload size) of the lidar topic; the injections are the truth below."""
    out: list[tuple[int, int]] = []
    shift = np.random.default_rng(d.seed + 1).integers(-5 * MS, 5 * MS, size=round(d.duration_s * 10) + 10)
    shift *= int(jitter)
    t, end = 0, round(d.duration_s * S)
    empty = {a: n for a, n in d.lidar_empty}
    pending = 0
    while t <= end:
        if any(a < t < b for a, b in d.lidar_gaps):
            t += 100 * MS
            continue
        pending = empty.pop(t, pending)
        stamp = max(0, t + int(shift[len(out)]))
        out.append((stamp, 0 if pending else 1200))
        pending = max(0, pending - 1)
        if t in d.lidar_dups:
            out.append((stamp, 1200))
        t += 250 * MS if any(a <= t < b for a, b in d.lidar_slow) else 100 * MS
    return out


def health_truth(d: Drive, topic: str = "/lidar") -> list[Truth]:
    stream = lidar_stream(d, jitter=False)  # the schedule; the bag's stamps are within ±5 ms of it
    t = np.array([s for s, _ in stream])
    sizes = np.array([z for _, z in stream])
    dt = np.diff(t)
    out = []
    for a, b in d.lidar_gaps:
        out.append(Truth("gap", d.t0 + a, d.t0 + b, topic))
    for i, j in _runs(dt == 250 * MS):
        out.append(Truth("rate_drop", d.t0 + int(t[i]), d.t0 + int(t[j + 1]), topic))
    for i, j in _runs(sizes == 0):
        out.append(Truth("zero_size", d.t0 + int(t[i]), d.t0 + int(t[j]), topic))
    for a, b in d.imu_late:
        out.append(Truth("late", d.t0 + a, d.t0 + b, "/imu/data"))
        out.append(Truth("out_of_order", d.t0 + a, d.t0 + a, "/imu/data"))  # the stamp jumps back 1 s there
    for x in d.imu_back:
        out.append(Truth("out_of_order", d.t0 + x, d.t0 + x, "/imu/data"))
    fixes = fix_times(d)
    for i in np.flatnonzero(np.diff(fixes) > 3 * 200 * MS):  # a GNSS outage is a gap of /fix too
        out.append(Truth("gap", d.t0 + int(fixes[i]), d.t0 + int(fixes[i + 1]), "/fix"))
    return out


# --- writing -----------------------------------------------------------------------
class _Msgs:
    def __init__(self, ros1: bool) -> None:
        self.ros1 = ros1
        self.store = get_typestore(Stores.ROS1_NOETIC if ros1 else Stores.ROS2_HUMBLE)
        self.T = self.store.types

    def header(self, stamp: int) -> object:
        time = self.T["builtin_interfaces/msg/Time"](sec=stamp // S, nanosec=stamp % S)
        if self.ros1:
            return self.T["std_msgs/msg/Header"](seq=0, stamp=time, frame_id="base_link")
        return self.T["std_msgs/msg/Header"](stamp=time, frame_id="base_link")

    def vec(self, x: float = 0.0, y: float = 0.0, z: float = 0.0) -> object:
        return self.T["geometry_msgs/msg/Vector3"](x=x, y=y, z=z)

    def odom(self, stamp: int, v: float, w: float) -> object:
        g = self.T
        pose = g["geometry_msgs/msg/PoseWithCovariance"](
            pose=g["geometry_msgs/msg/Pose"](
                position=g["geometry_msgs/msg/Point"](x=0.0, y=0.0, z=0.0),
                orientation=g["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0),
            ),
            covariance=np.zeros(36),
        )
        twist = g["geometry_msgs/msg/TwistWithCovariance"](
            twist=g["geometry_msgs/msg/Twist"](linear=self.vec(v), angular=self.vec(z=w)), covariance=np.zeros(36)
        )
        return g["nav_msgs/msg/Odometry"](header=self.header(stamp), child_frame_id="base_link", pose=pose, twist=twist)

    def imu(self, stamp: int, a: float, w: float) -> object:
        g = self.T
        return g["sensor_msgs/msg/Imu"](
            header=self.header(stamp),
            orientation=g["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0),
            orientation_covariance=np.zeros(9),
            angular_velocity=self.vec(z=w),
            angular_velocity_covariance=np.zeros(9),
            linear_acceleration=self.vec(a, 0.0, 9.81),
            linear_acceleration_covariance=np.zeros(9),
        )

    def fix(self, stamp: int, lat: float, lon: float) -> object:
        g = self.T
        return g["sensor_msgs/msg/NavSatFix"](
            header=self.header(stamp),
            status=g["sensor_msgs/msg/NavSatStatus"](status=0, service=1),
            latitude=lat,
            longitude=lon,
            altitude=10.0,
            position_covariance=np.zeros(9),
            position_covariance_type=0,
        )

    def serialize(self, msg: object, msgtype: str) -> bytes:
        if self.ros1:
            return bytes(self.store.serialize_ros1(msg, msgtype))
        return bytes(self.store.serialize_cdr(msg, msgtype))


ODOM, IMU, FIX, LIDAR = (
    "nav_msgs/msg/Odometry",
    "sensor_msgs/msg/Imu",
    "sensor_msgs/msg/NavSatFix",
    "std_msgs/msg/String",
)


IMAGE = "sensor_msgs/msg/Image"
CAMERA_PERIOD_NS = 500 * MS


def camera_times(d: Drive) -> np.ndarray:
    """Absolute stamps of the 2 Hz camera topic (when a drive is written with `camera=True`)."""
    return d.t0 + d.grid(CAMERA_PERIOD_NS)


def messages(d: Drive, m: _Msgs, camera: bool = False) -> list[tuple[str, str, int, bytes]]:
    """(topic, type, absolute receive ns, bytes) of the whole drive, in time order."""
    out: list[tuple[str, str, int, bytes]] = []
    if camera:
        for t in camera_times(d):
            img = m.T[IMAGE](
                header=m.header(int(t)),
                height=8,
                width=8,
                encoding="mono8",
                is_bigendian=0,
                step=8,
                data=np.full(64, int(t // S) % 256, dtype=np.uint8),
            )
            out.append(("/camera/image_raw", IMAGE, int(t), m.serialize(img, IMAGE)))
    noise = np.random.default_rng(d.seed)
    rel = d.grid(20 * MS)
    speed = np.abs(d.speed_at(rel) + noise.normal(0, 0.05, len(rel)))
    for t, v, w in zip(rel, speed, d.yaw_at(rel), strict=True):
        out.append(("/odom", ODOM, d.t0 + int(t), m.serialize(m.odom(d.t0 + int(t), float(v), float(w)), ODOM)))
    rel = d.grid(10 * MS)
    prev = d.t0
    yaw = d.yaw_at(rel) + noise.normal(0, 0.02, len(rel))
    for t, a, w in zip(rel, d.accel_at(rel), yaw, strict=True):
        stamp = d.t0 + int(t)
        if any(x <= t <= y for x, y in d.imu_late):
            stamp -= S
        if t in d.imu_back:
            stamp = prev - 50 * MS
        prev = stamp
        out.append(("/imu/data", IMU, d.t0 + int(t), m.serialize(m.imu(max(stamp, 0), float(a), float(w)), IMU)))
    for i, t in enumerate(fix_times(d)):
        lat, lon = 35.6 + i * 1e-5, 139.7 + i * 1e-5
        out.append(("/fix", FIX, d.t0 + int(t), m.serialize(m.fix(d.t0 + int(t), lat, lon), FIX)))
    for t, size in lidar_stream(d):
        body = b"" if size == 0 else (b"\x00\x00\x01\x00" if not m.ros1 else b"") + b"x" * size
        out.append(("/lidar", LIDAR, d.t0 + int(t), body))
    out.sort(key=lambda r: r[2])
    return out


def write_drive(d: Drive, path: Path, fmt: str, camera: bool = False) -> Path:
    """Write the drive as `ros1` (.bag), `ros2` (sqlite3 directory) or `mcap` (rosbag2 MCAP directory)."""
    m = _Msgs(ros1=fmt == "ros1")
    msgs = messages(d, m, camera)
    if fmt == "ros1":
        from rosbags.rosbag1 import Writer as Writer1

        with Writer1(path) as w1:
            conns1 = {}
            for topic, typ in {(t, ty) for t, ty, _, _ in msgs}:
                conns1[topic] = w1.add_connection(topic, typ, typestore=m.store)
            for topic, _, t, data in msgs:
                w1.write(conns1[topic], t, data)
        return path
    from rosbags.rosbag2 import StoragePlugin, Writer

    plugin = StoragePlugin.MCAP if fmt == "mcap" else StoragePlugin.SQLITE3
    with Writer(path, version=9, storage_plugin=plugin) as w2:
        conns2 = {}
        for topic, typ in sorted({(t, ty) for t, ty, _, _ in msgs}):
            conns2[topic] = w2.add_connection(topic, typ, typestore=m.store)
        for topic, _, t, data in msgs:
            w2.write(conns2[topic], t, data)
    return path
