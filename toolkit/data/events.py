"""Events: time ranges found in a bag by detectors with thresholds from a user YAML.

Vehicle events come from the derived series (``<bag>.signals.parquet``), so they can be
recomputed without the bag; sensor-health events come from the receive times and sizes
of every topic (no decoding) plus header stamps where the signals pass decoded them.

Every event is ``[start_ns, end_ns]`` with both ends inside the event (the closed range
rule of slices); ``value`` is the event's figure in SI units (see ``KINDS``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from toolkit.bags.signals import Extraction, Series, TopicTrace
from toolkit.data.eventmodel import BagEvent
from toolkit.errors import UserError

CONFIG_FILE = "pitlane.events.yaml"

# kind -> what `value` holds
VEHICLE_KINDS = {
    "hard_brake": "peak deceleration, m/s² (negative)",
    "stop": "duration, s",
    "sharp_turn": "peak |yaw rate|, rad/s",
    "speed_band": "peak speed in the band, m/s (detail: the band, e.g. 50-80kmh)",
    "gnss_dropout": "duration without a valid fix, s",
}
HEALTH_KINDS = {
    "gap": "interval, s",
    "rate_drop": "rate in the drop / nominal rate",
    "late": "largest receive time minus header stamp, s",
    "out_of_order": "how far the header stamp went back, s",
    "zero_size": "empty messages in the run",
}
KINDS = {**VEHICLE_KINDS, **HEALTH_KINDS}
MAX_PER_KIND = 200  # per (kind, topic) and bag: the sidecar stays small; the longest/strongest are kept


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HardBrake(_Strict):
    decel_mps2: float = Field(default=3.0, gt=0, description="deceleration at least this (m/s²)")
    min_duration_s: float = Field(default=0.3, ge=0)


class Stop(_Strict):
    max_speed_mps: float = Field(default=0.3, ge=0)
    min_duration_s: float = Field(default=2.0, ge=0)


class SharpTurn(_Strict):
    yaw_rate_rps: float = Field(default=0.3, gt=0)
    min_duration_s: float = Field(default=0.5, ge=0)
    min_speed_mps: float = Field(default=1.0, ge=0, description="ignored when the bag has no speed source")


class SpeedBands(_Strict):
    edges_kmh: list[float] = Field(default_factory=lambda: [30.0, 50.0, 80.0, 100.0])
    min_duration_s: float = Field(default=3.0, ge=0)


class GnssDropout(_Strict):
    min_duration_s: float = Field(default=2.0, gt=0)


class Health(_Strict):
    min_messages: int = Field(default=10, ge=2, description="topics with fewer messages are not judged")
    gap_factor: float = Field(default=3.0, gt=1, description="gap: interval > gap_factor x median interval")
    min_gap_s: float = Field(default=0.05, ge=0, description="and longer than this (sub-frame jitter is no gap)")
    periodic_fraction: float = Field(
        default=0.6,
        ge=0,
        le=1,
        description="rates are judged only on topics with this share of intervals near the median",
    )
    rate_drop_fraction: float = Field(default=0.6, gt=0, lt=1, description="rate below this x nominal")
    rate_drop_min_s: float = Field(default=1.0, ge=0)
    late_s: float = Field(default=0.5, gt=0, description="receive time - header stamp above this")
    empty_bytes: int = Field(default=0, ge=0, description="zero_size: payload of at most this many bytes (CDR: +4)")


class EventsConfig(_Strict):
    period_s: float = Field(default=0.1, gt=0, le=10, description="sample period of the derived series")
    merge_s: float = Field(default=0.3, ge=0, description="runs closer than this merge into one event")
    hard_brake: HardBrake = HardBrake()
    stop: Stop = Stop()
    sharp_turn: SharpTurn = SharpTurn()
    speed_band: SpeedBands = SpeedBands()
    gnss_dropout: GnssDropout = GnssDropout()
    health: Health = Health()

    @property
    def period_ns(self) -> int:
        return round(self.period_s * 1e9)


def load_config(repo_root: Path | None = None, path: Path | None = None) -> EventsConfig:
    """Thresholds from `path`, else `<repo>/pitlane.events.yaml` when present, else the defaults."""
    file = path or (repo_root / CONFIG_FILE if repo_root is not None else None)
    if file is None or (path is None and not file.exists()):
        return EventsConfig()
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"{file}: cannot read event thresholds ({str(exc).splitlines()[0]})") from None
    try:
        return EventsConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise UserError(f"{file}: {where}: {err['msg']}") from None


# --- runs ------------------------------------------------------------------------
def runs(mask: np.ndarray, merge: int = 0) -> list[tuple[int, int]]:
    """Inclusive index ranges where `mask` is true; runs separated by at most `merge` false items join."""
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > merge + 1)
    starts = np.concatenate(([idx[0]], idx[breaks + 1]))
    ends = np.concatenate((idx[breaks], [idx[-1]]))
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def _bin_events(series: Series, mask: np.ndarray, min_s: float, merge_s: float) -> Iterator[tuple[int, int, int, int]]:
    """(first index, last index, start_ns, end_ns) of runs lasting at least `min_s`.

    A row stands for its sample period, so a run ends where its last period ends.
    """
    p = series.period_ns
    merge = int(merge_s * 1e9 // p)
    for a, b in runs(mask, merge):
        if (b - a + 1) * p >= round(min_s * 1e9):
            yield a, b, int(series.t_ns[a]), int(series.t_ns[b]) + p


def vehicle_events(series: Series, cfg: EventsConfig) -> list[BagEvent]:
    if len(series) == 0:
        return []
    c = series.columns
    speed, accel, yaw = c["speed_mps"], c["accel_mps2"], c["yaw_rate_rps"]
    out: list[BagEvent] = []
    with np.errstate(invalid="ignore"):
        hb = cfg.hard_brake
        for a, b, s, e in _bin_events(series, accel <= -hb.decel_mps2, hb.min_duration_s, cfg.merge_s):
            out.append(BagEvent(kind="hard_brake", start_ns=s, end_ns=e, value=float(np.nanmin(accel[a : b + 1]))))
        st = cfg.stop
        for _a, _b, s, e in _bin_events(series, speed <= st.max_speed_mps, st.min_duration_s, cfg.merge_s):
            out.append(BagEvent(kind="stop", start_ns=s, end_ns=e, value=(e - s) / 1e9))
        tn = cfg.sharp_turn
        turning = np.abs(yaw) >= tn.yaw_rate_rps
        if not np.all(np.isnan(speed)):
            turning &= speed >= tn.min_speed_mps
        for a, b, s, e in _bin_events(series, turning, tn.min_duration_s, cfg.merge_s):
            out.append(
                BagEvent(kind="sharp_turn", start_ns=s, end_ns=e, value=float(np.nanmax(np.abs(yaw[a : b + 1]))))
            )
        edges = sorted(cfg.speed_band.edges_kmh)
        kmh = speed * 3.6
        for lo, hi in zip(edges, [*edges[1:], float("inf")], strict=True):
            band = (kmh >= lo) & (kmh < hi)
            label = f"{lo:g}-{hi:g}kmh" if hi != float("inf") else f">{lo:g}kmh"
            for a, b, s, e in _bin_events(series, band, cfg.speed_band.min_duration_s, 0):
                peak = float(np.nanmax(speed[a : b + 1]))
                out.append(BagEvent(kind="speed_band", start_ns=s, end_ns=e, value=peak, detail=label))
    out.extend(_gnss_dropouts(series, cfg))
    return out


def _gnss_dropouts(series: Series, cfg: EventsConfig) -> list[BagEvent]:
    lat = series.columns["lat"]
    valid = np.flatnonzero(~np.isnan(lat))
    if len(valid) < 2:
        return []
    t = series.t_ns[valid]
    dt = np.diff(t)
    out = []
    for i in np.flatnonzero(dt >= round(cfg.gnss_dropout.min_duration_s * 1e9)):
        s, e = int(t[i]), int(t[i + 1])
        out.append(BagEvent(kind="gnss_dropout", start_ns=s, end_ns=e, value=(e - s) / 1e9, topic=""))
    return out


# --- sensor health ----------------------------------------------------------------
def topic_health(trace: TopicTrace, cfg: Health) -> list[BagEvent]:
    """Gaps, rate drops, zero-size runs, late and out-of-order header stamps of one topic."""
    t = trace.stamps
    if len(t) < cfg.min_messages:
        return []
    out: list[BagEvent] = []
    dt = np.diff(t)
    positive = dt[dt > 0]  # equal stamps (bursts, duplicates) say nothing about the rate
    nominal = float(np.median(positive)) if len(positive) else 0.0
    near = np.count_nonzero((positive >= 0.5 * nominal) & (positive <= 1.5 * nominal))
    # Event-driven topics (commands, logs) and bursty ones (tf) have no rate to lose: skip them.
    periodic = len(positive) >= cfg.min_messages - 1 and near >= cfg.periodic_fraction * len(positive)
    if periodic:
        gap = dt > max(cfg.gap_factor * nominal, cfg.min_gap_s * 1e9)
        for i in np.flatnonzero(gap):
            out.append(_ev("gap", trace, int(t[i]), int(t[i + 1]), dt[i] / 1e9))
        slow = (dt > nominal / cfg.rate_drop_fraction) & ~gap
        for a, b in runs(slow):
            s, e = int(t[a]), int(t[b + 1])
            if e - s >= cfg.rate_drop_min_s * 1e9 and b - a + 1 >= 2:
                rate = (b - a + 1) / ((e - s) / 1e9)
                out.append(_ev("rate_drop", trace, s, e, rate * nominal / 1e9))
    empty_limit = cfg.empty_bytes + (4 if trace.encoding == "cdr" else 0)
    empty = trace.sizes <= empty_limit
    if empty.any() and float(np.median(trace.sizes)) > empty_limit:  # a topic that normally carries data
        for a, b in runs(empty):
            out.append(_ev("zero_size", trace, int(t[a]), int(t[b]), float(b - a + 1)))
    h = trace.header_stamps
    if h is not None and len(h) == len(t):
        delay = (t - h).astype(np.float64) / 1e9
        for a, b in runs(delay > cfg.late_s):
            out.append(_ev("late", trace, int(t[a]), int(t[b]), float(delay[a : b + 1].max())))
        dh = np.diff(h)
        for a, b in runs(dh < 0):  # interval i ends at message i + 1, the one stamped earlier
            drop = float(-dh[a : b + 1].min()) / 1e9
            out.append(_ev("out_of_order", trace, int(t[a + 1]), int(t[b + 1]), drop))
    return out


def _ev(kind: str, trace: TopicTrace, s: int, e: int, value: float) -> BagEvent:
    return BagEvent(kind=kind, start_ns=s, end_ns=e, value=float(value), topic=trace.topic)


def health_events(extraction: Extraction, cfg: EventsConfig) -> list[BagEvent]:
    return [ev for trace in extraction.topics.values() for ev in topic_health(trace, cfg.health)]


def capped(events: list[BagEvent]) -> list[BagEvent]:
    """At most MAX_PER_KIND events per (kind, topic), the longest kept; sorted by time."""
    groups: dict[tuple[str, str], list[BagEvent]] = {}
    for ev in events:
        groups.setdefault((ev.kind, ev.topic), []).append(ev)
    kept = [
        ev
        for group in groups.values()
        for ev in sorted(group, key=lambda e: (e.start_ns - e.end_ns, e.start_ns))[:MAX_PER_KIND]
    ]
    return sorted(kept, key=lambda e: (e.start_ns, e.kind, e.topic, e.end_ns))
