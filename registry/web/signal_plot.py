"""SVG geometry of a bag's derived signals (speed, acceleration, yaw rate) with its events as bands.

Server-side only (no scripts, no inline styles: the pages' CSP allows neither): polylines and
rectangles with presentation attributes, drawn from the committed `<bag>.signals.parquet`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from toolkit.data.events import VEHICLE_KINDS
from toolkit.data.sidecar import Sidecar
from toolkit.data.signalfile import read_series
from toolkit.errors import DataRepoError

PLOT_W, PANEL_H, LABEL_W = 600, 80, 150
PANELS = (
    ("speed_mps", "speed (km/h)", 3.6),
    ("accel_mps2", "accel (m/s²)", 1.0),
    ("yaw_rate_rps", "yaw rate (rad/s)", 1.0),
)
BAND_COLORS = {
    "hard_brake": "#d83b3b",
    "stop": "#888888",
    "sharp_turn": "#e0a020",
    "gnss_dropout": "#7b3bd8",
}


def _segments(x: np.ndarray, y: np.ndarray) -> list[str]:
    """SVG points strings, one per run of known values (NaN breaks the line)."""
    out: list[str] = []
    cur: list[str] = []
    for xi, yi in zip(x, y, strict=True):
        if np.isnan(yi):
            if len(cur) > 1:
                out.append(" ".join(cur))
            cur = []
        else:
            cur.append(f"{xi:.1f},{yi:.1f}")
    if len(cur) > 1:
        out.append(" ".join(cur))
    return out


def signal_plot(sc: Sidecar, root: Path) -> dict[str, Any] | None:
    """Panels and event bands for the bag page; None when the bag has no series."""
    if sc.signals is None or not sc.signals.file:
        return None
    try:
        series = read_series(root / sc.signals.file)
    except (DataRepoError, FileNotFoundError):
        return None
    n = len(series)
    if n < 2:
        return None
    step = max(1, n // PLOT_W)  # about one point per pixel
    t = series.t_ns[::step]
    t0, t1 = int(series.t_ns[0]), int(series.t_ns[-1]) + series.period_ns
    span = max(t1 - t0, 1)
    x = (t - t0) / span * PLOT_W
    panels = []
    for i, (col, label, scale) in enumerate(PANELS):
        v = series.columns[col][::step] * scale
        known = v[~np.isnan(v)]
        if len(known) == 0:
            continue
        lo, hi = float(min(known.min(), 0.0)), float(max(known.max(), 0.0))
        rng = max(hi - lo, 1e-6)
        y = (PANEL_H - 4) - (v - lo) / rng * (PANEL_H - 8)
        zero = (PANEL_H - 4) - (0 - lo) / rng * (PANEL_H - 8)
        panels.append(
            {"label": label, "y": i * PANEL_H, "lines": _segments(x, y), "lo": lo, "hi": hi, "zero": round(zero, 1)}
        )
    if not panels:
        return None
    bands = []
    for ev in sc.events:
        if ev.kind not in VEHICLE_KINDS or ev.kind not in BAND_COLORS:
            continue
        a = max(0.0, (ev.start_ns - t0) / span * PLOT_W)
        b = min(float(PLOT_W), (ev.end_ns - t0) / span * PLOT_W)
        bands.append(
            {
                "x": round(a, 1),
                "w": round(max(b - a, 1.0), 1),
                "kind": ev.kind,
                "color": BAND_COLORS[ev.kind],
                "title": f"{ev.kind} +{(ev.start_ns - (sc.summary.start_ns or t0)) / 1e9:.1f}s "
                f"({(ev.end_ns - ev.start_ns) / 1e9:.1f}s, {ev.value:.3g})",
            }
        )
    return {
        "w": PLOT_W,
        "label_w": LABEL_W,
        "h": len(panels) * PANEL_H,
        "panel_h": PANEL_H,
        "panels": panels,
        "bands": bands,
        "sources": sc.signals.sources,
        "kinds": sorted({b["kind"] for b in bands}),
        "colors": BAND_COLORS,
    }


def health_rows(sc: Sidecar, limit: int = 200) -> list[dict[str, Any]]:
    """The bag's sensor-health events for the page's table, in time order."""
    start = sc.summary.start_ns or 0
    rows = [
        {
            "topic": ev.topic,
            "kind": ev.kind,
            "offset_s": (ev.start_ns - start) / 1e9,
            "duration_s": (ev.end_ns - ev.start_ns) / 1e9,
            "value": ev.value,
        }
        for ev in sc.events
        if ev.kind not in VEHICLE_KINDS
    ]
    return rows[:limit]
