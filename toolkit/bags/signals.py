"""Derived signals: one pass over a bag that decodes only topics of known motion types.

Every message's receive time and size is kept per topic (sensor health needs no
decoding); payloads are deserialized only for the types below, and each signal
comes from one topic (the preferred type, then the one with most messages):

| signal | sources, in order of preference |
|---|---|
| speed (m/s) | VelocityReport (Autoware), Odometry, TwistStamped, TwistWithCovarianceStamped, Twist |
| yaw rate (rad/s) | Imu, then the speed source's angular z / heading rate |
| IMU longitudinal acceleration (m/s²) | Imu linear_acceleration.x |
| position | NavSatFix (fixes with status < 0 or NaN are dropped) |

``resample`` turns the samples into a fixed-rate series: each row at ``t0 + k·period``
holds the mean of the samples received in ``[t, t + period)`` (NaN when none did).
"""

from __future__ import annotations

import math
import os
import struct
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from toolkit.bags.connection import BagConnection
from toolkit.bags.fastfields import fast_reader, fields_of
from toolkit.bags.read import BagReader
from toolkit.bags.types import UndecodableError, typestore_for

IMU = "sensor_msgs/msg/Imu"
ODOMETRY = "nav_msgs/msg/Odometry"
NAVSATFIX = "sensor_msgs/msg/NavSatFix"
TWIST = "geometry_msgs/msg/Twist"
TWIST_STAMPED = "geometry_msgs/msg/TwistStamped"
TWIST_COV_STAMPED = "geometry_msgs/msg/TwistWithCovarianceStamped"
VELOCITY_REPORTS = ("autoware_auto_vehicle_msgs/msg/VelocityReport", "autoware_vehicle_msgs/msg/VelocityReport")

# Preference of speed sources (lower is better).
SPEED_TYPES = {**dict.fromkeys(VELOCITY_REPORTS, 0), ODOMETRY: 1, TWIST_STAMPED: 2, TWIST_COV_STAMPED: 3, TWIST: 4}
KNOWN_TYPES = frozenset({IMU, NAVSATFIX, *SPEED_TYPES})

COLUMNS = ("speed_mps", "accel_mps2", "yaw_rate_rps", "lat", "lon")
DEFAULT_PERIOD_NS = 100_000_000  # 10 Hz


@dataclass
class TopicTrace:
    """Receive times and payload sizes of every message of one topic, in time order."""

    topic: str
    msgtype: str
    encoding: str
    stamps: np.ndarray  # int64 ns
    sizes: np.ndarray  # int64 bytes
    header_stamps: np.ndarray | None = None  # int64 ns; decoded topics with a std_msgs/Header only


@dataclass
class Samples:
    """Decoded values of one signal from one topic."""

    topic: str
    t: np.ndarray  # int64 ns, receive time
    v: np.ndarray  # float64


@dataclass
class Extraction:
    topics: dict[str, TopicTrace]
    samples: dict[str, Samples]  # keys: speed, imu_accel, yaw_rate, lat, lon
    warnings: list[str] = field(default_factory=list)


@dataclass
class Series:
    """A fixed-rate series of the derived signals; ``sources`` names the topic of each column."""

    period_ns: int
    t_ns: np.ndarray  # int64
    columns: dict[str, np.ndarray]  # COLUMNS -> float64 (NaN where unknown)
    sources: dict[str, str] = field(default_factory=dict)
    accel_from: str = ""  # "speed" (derivative of the speed column) or "imu" or ""

    def __len__(self) -> int:
        return len(self.t_ns)


def _same(a: tuple[float | int | None, ...], b: tuple[float | int | None, ...]) -> bool:
    def eq(x: float | int | None, y: float | int | None) -> bool:
        if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
            return True
        return x == y

    return len(a) == len(b) and all(eq(x, y) for x, y in zip(a, b, strict=True))


def _reference(conn: BagConnection) -> Callable[[bytes], tuple[float | int | None, ...]] | None:
    """(header stamp, values...) through rosbags' full deserialization."""
    full = _decoder(conn)
    if full is None:
        return None
    if conn.msgtype in VELOCITY_REPORTS:

        def report(data: bytes) -> tuple[float | int | None, ...]:
            m = full(data)
            stamp = int(m.header.stamp.sec) * 1_000_000_000 + int(m.header.stamp.nanosec)
            return stamp, float(m.longitudinal_velocity), float(m.lateral_velocity), float(m.heading_rate)

        return report
    return lambda data: fields_of(full(data), conn.msgtype)


def _field_reader(conn: BagConnection) -> Callable[[bytes], tuple[float | int | None, ...]] | None:
    """The fast reader when it agrees with rosbags on the connection's first message, else rosbags."""
    ref = _reference(conn)
    if ref is None:
        return None
    fast = fast_reader(conn.msgtype, conn.encoding)
    if fast is None:
        return ref
    use: list[Callable[[bytes], tuple[float | int | None, ...]]] = []

    def read(data: bytes) -> tuple[float | int | None, ...]:
        if not use:
            try:
                agree = _same(fast(data), ref(data))
            except (struct.error, ValueError, IndexError):
                agree = False
            use.append(fast if agree else ref)
        try:
            return use[0](data)
        except (struct.error, ValueError, IndexError):
            return ref(data)

    return read


def _pick(conns: list[BagConnection], counts: dict[str, int], rank: Callable[[BagConnection], int]) -> str | None:
    if not conns:
        return None
    best = min(conns, key=lambda c: (rank(c), -counts.get(c.topic, 0), c.topic))
    return best.topic


def _decoder(conn: BagConnection) -> Callable[[bytes], Any] | None:
    try:
        store = typestore_for(conn)
        store.get_msgdef(conn.msgtype)
    except UndecodableError:
        return None
    except Exception:  # rosbags raises several types for definitions it cannot build
        return None
    if conn.encoding == "ros1":
        return lambda data: store.deserialize_ros1(data, conn.msgtype)
    return lambda data: store.deserialize_cdr(data, conn.msgtype)


def extract(path: str | os.PathLike[str], counts: dict[str, int] | None = None) -> Extraction:
    """Read the bag once: stamps and sizes of every topic, decoded samples of the chosen topics."""
    with BagReader(path) as reader:
        return extract_from(reader, counts or {})


def extract_from(reader: BagReader, counts: dict[str, int]) -> Extraction:
    warnings: list[str] = []
    known = [c for c in reader.connections if c.msgtype in KNOWN_TYPES]
    decoders: dict[int, Callable[[bytes], tuple[float | int | None, ...]]] = {}
    for c in known:
        dec = _field_reader(c)
        if dec is None:
            warnings.append(f"signals: {c.topic} ({c.msgtype}) cannot be decoded")
        else:
            decoders[c.id] = dec
    usable = [c for c in known if c.id in decoders]
    speed_topic = _pick([c for c in usable if c.msgtype in SPEED_TYPES], counts, lambda c: SPEED_TYPES[c.msgtype])
    imu_topic = _pick([c for c in usable if c.msgtype == IMU], counts, lambda c: 0)
    fix_topic = _pick([c for c in usable if c.msgtype == NAVSATFIX], counts, lambda c: 0)
    chosen = {t for t in (speed_topic, imu_topic, fix_topic) if t is not None}

    # array('q') keeps 8 bytes per message (a list of ints ~70): hours of 100 Hz topics stay small.
    stamps: dict[str, array[int]] = {}
    sizes: dict[str, array[int]] = {}
    headers: dict[str, array[int]] = {}
    meta: dict[str, tuple[str, str]] = {}
    raw: dict[str, tuple[list[int], list[float]]] = {k: ([], []) for k in ("speed", "imu_accel", "yaw_rate", "lat")}
    lon_v: list[float] = []
    yaw_from_speed: tuple[list[int], list[float]] = ([], [])
    for m in reader.messages():
        topic, t = m.topic, m.timestamp_ns
        if topic not in stamps:
            stamps[topic], sizes[topic] = array("q"), array("q")
            meta[topic] = (m.msgtype, m.connection.encoding)
        stamps[topic].append(t)
        sizes[topic].append(len(m.data))
        if topic not in chosen:
            continue
        dec = decoders.get(m.connection.id)
        if dec is None:
            continue
        try:
            fields = dec(m.data)
        except Exception as exc:  # one bad payload must not cost the bag its signals
            warnings.append(f"signals: {topic} message at {t} does not decode ({type(exc).__name__})")
            continue
        hs = fields[0]
        if hs is not None:
            headers.setdefault(topic, array("q")).append(int(hs))
        if topic == speed_topic:
            vx, vy, wz = (float(v) for v in fields[1:4])  # type: ignore[arg-type]
            raw["speed"][0].append(t)
            raw["speed"][1].append(math.hypot(vx, vy))
            yaw_from_speed[0].append(t)
            yaw_from_speed[1].append(wz)
        if topic == imu_topic:
            ax, wz = float(fields[1]), float(fields[2])  # type: ignore[arg-type]
            raw["imu_accel"][0].append(t)
            raw["imu_accel"][1].append(ax)
            raw["yaw_rate"][0].append(t)
            raw["yaw_rate"][1].append(wz)
        if topic == fix_topic:
            lat, lon, status = float(fields[1]), float(fields[2]), int(fields[3])  # type: ignore[arg-type]
            if status >= 0 and math.isfinite(lat) and math.isfinite(lon) and abs(lat) <= 90 and abs(lon) <= 180:
                raw["lat"][0].append(t)
                raw["lat"][1].append(lat)
                lon_v.append(lon)

    topics: dict[str, TopicTrace] = {}
    for topic, ts in stamps.items():
        t_arr = np.asarray(ts, dtype=np.int64)
        hdr = headers.get(topic)
        h_arr = np.asarray(hdr, dtype=np.int64) if hdr is not None and len(hdr) == len(ts) else None
        z_arr = np.asarray(sizes[topic], dtype=np.int64)
        if len(t_arr) > 1 and bool(np.any(np.diff(t_arr) < 0)):
            # A damaged bag read by scan comes in file order: put each topic in time order.
            order = np.argsort(t_arr, kind="stable")
            t_arr, z_arr = t_arr[order], z_arr[order]
            h_arr = h_arr[order] if h_arr is not None else None
        topics[topic] = TopicTrace(
            topic=topic,
            msgtype=meta[topic][0],
            encoding=meta[topic][1],
            stamps=t_arr,
            sizes=z_arr,
            header_stamps=h_arr,
        )
    if imu_topic is None and speed_topic is not None:
        raw["yaw_rate"] = yaw_from_speed
    source = {"speed": speed_topic, "imu_accel": imu_topic, "yaw_rate": imu_topic or speed_topic, "lat": fix_topic}
    samples: dict[str, Samples] = {}
    for key, (ts_l, vs) in raw.items():
        src = source[key]
        if src is not None and ts_l:
            samples[key] = Samples(src, np.asarray(ts_l, dtype=np.int64), np.asarray(vs, dtype=np.float64))
    if "lat" in samples:
        samples["lon"] = Samples(samples["lat"].topic, samples["lat"].t, np.asarray(lon_v, dtype=np.float64))
    for key, smp in samples.items():
        if len(smp.t) > 1 and bool(np.any(np.diff(smp.t) < 0)):
            order = np.argsort(smp.t, kind="stable")
            samples[key] = Samples(smp.topic, smp.t[order], smp.v[order])
    return Extraction(topics=topics, samples=samples, warnings=warnings)


def bin_means(t: np.ndarray, v: np.ndarray, t0: int, period_ns: int, n: int) -> np.ndarray:
    """Mean of ``v`` per bin ``[t0 + k·period, t0 + (k+1)·period)`` for k < n; NaN for empty bins."""
    idx = (t - t0) // period_ns
    keep = (idx >= 0) & (idx < n)
    idx = idx[keep]
    sums = np.bincount(idx, weights=v[keep], minlength=n)
    counts = np.bincount(idx, minlength=n)
    out = np.full(n, np.nan)
    has = counts > 0
    out[has] = sums[has] / counts[has]
    return out


def resample(extraction: Extraction, period_ns: int = DEFAULT_PERIOD_NS) -> Series:
    """The fixed-rate series of an extraction; empty when no known topic had samples."""
    samples = extraction.samples
    if not samples:
        return Series(period_ns, np.zeros(0, dtype=np.int64), {c: np.zeros(0) for c in COLUMNS})
    t0 = min(int(s.t[0]) for s in samples.values())
    t1 = max(int(s.t[-1]) for s in samples.values())
    n = (t1 - t0) // period_ns + 1
    t_ns = t0 + np.arange(n, dtype=np.int64) * period_ns

    def col(key: str) -> np.ndarray:
        s = samples.get(key)
        return bin_means(s.t, s.v, t0, period_ns, n) if s is not None else np.full(n, np.nan)

    speed = col("speed")
    if "speed" in samples:
        accel = derivative(speed, period_ns)
        accel_from = "speed"
    elif "imu_accel" in samples:
        accel = col("imu_accel")
        accel_from = "imu"
    else:
        accel, accel_from = np.full(n, np.nan), ""
    columns = {"speed_mps": speed, "accel_mps2": accel, "yaw_rate_rps": col("yaw_rate"), "lat": col("lat")}
    columns["lon"] = col("lon")
    sources = {
        "speed_mps": samples["speed"].topic if "speed" in samples else "",
        "accel_mps2": (samples["speed"].topic if accel_from == "speed" else samples["imu_accel"].topic)
        if accel_from
        else "",
        "yaw_rate_rps": samples["yaw_rate"].topic if "yaw_rate" in samples else "",
        "lat": samples["lat"].topic if "lat" in samples else "",
        "lon": samples["lat"].topic if "lat" in samples else "",
    }
    return Series(period_ns, t_ns, columns, sources, accel_from)


def derivative(v: np.ndarray, period_ns: int) -> np.ndarray:
    """Central differences per second (one-sided at the ends); NaN where a neighbour is unknown."""
    dt = period_ns / 1e9
    out = np.full(len(v), np.nan)
    if len(v) < 2:
        return out
    out[1:-1] = (v[2:] - v[:-2]) / (2 * dt)
    out[0] = (v[1] - v[0]) / dt
    out[-1] = (v[-1] - v[-2]) / dt
    return out
