"""GNSS: bbox and downsampled track from the husky bag's real /fix topic, checked against a direct decode."""

from __future__ import annotations

import math

from rosbags.highlevel import AnyReader

from tests.bags.truth import BAGS
from toolkit.bags import index
from toolkit.bags.gnss import MAX_TRACK_POINTS, downsample

HUSKY = BAGS / "sensors/husky_gps_imu.bag"


def _reference_fixes() -> list[tuple[float, float]]:
    out = []
    with AnyReader([HUSKY]) as reader:
        conns = [c for c in reader.connections if c.topic == "/fix"]
        for conn, _t, raw in reader.messages(connections=conns):
            fix = reader.deserialize(raw, conn.msgtype)
            if fix.status.status >= 0 and math.isfinite(fix.latitude) and math.isfinite(fix.longitude):
                out.append((fix.latitude, fix.longitude))
    return out


def test_husky_bbox_and_track() -> None:
    s = index(HUSKY, hashes=False)
    fixes = _reference_fixes()
    assert s.gnss is not None
    assert s.gnss.topic == "/fix"
    assert s.gnss.fixes == len(fixes) > 0
    lat0, lon0, lat1, lon1 = s.gnss.bbox
    assert (lat0, lon0, lat1, lon1) == (
        min(f[0] for f in fixes),
        min(f[1] for f in fixes),
        max(f[0] for f in fixes),
        max(f[1] for f in fixes),
    )
    # The recording is near 42.3758,-71.1474 (Boston).
    assert abs(lat0 - 42.3758) < 0.01 and abs(lon0 + 71.1474) < 0.01
    assert 2 <= len(s.gnss.track) <= MAX_TRACK_POINTS
    assert s.gnss.track[0] == fixes[0] and s.gnss.track[-1] == fixes[-1]
    assert all(lat0 <= lat <= lat1 and lon0 <= lon <= lon1 for lat, lon in s.gnss.track)


def test_no_gnss_without_navsatfix() -> None:
    assert index(BAGS / "ros1/turtlesim_example.bag", hashes=False).gnss is None


def test_gnss_can_be_skipped() -> None:
    assert index(HUSKY, hashes=False, gnss=False).gnss is None


def test_downsample_keeps_ends_and_limit() -> None:
    pts = [(float(i), float(-i)) for i in range(1234)]
    out = downsample(pts, 500)
    assert len(out) <= 500 and out[0] == pts[0] and out[-1] == pts[-1]
    assert downsample(pts[:10], 500) == pts[:10]
