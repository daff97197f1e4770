"""Event and speed terms on both catalog backends (SQLite and PostgreSQL): bags, minutes, fleet counts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.data.factories import T0, make_sidecar
from tests.services.postgres import PostgresServer, postgres_server  # noqa: F401 - session fixture
from toolkit.data.catalog import Catalog
from toolkit.data.eventmodel import BagEvent, SignalsInfo
from toolkit.data.fleet import event_counts
from toolkit.data.search import search
from toolkit.data.sidecar import Sidecar

S = 1_000_000_000
LIDAR = ("/sensing/lidar/top/points", "sensor_msgs/msg/PointCloud2", 600)


def _with(sc: Sidecar, events: list[tuple[str, float, float, str]], max_kmh: float | None) -> Sidecar:
    start = sc.summary.start_ns or 0
    evs = [
        BagEvent(kind=k, start_ns=start + int(a * S), end_ns=start + int(b * S), value=-4.0, topic=topic)
        for k, a, b, topic in events
    ]
    signals = None if max_kmh is None else SignalsInfo(file="", max_speed_mps=max_kmh / 3.6, min_speed_mps=0.0)
    return sc.model_copy(update={"events": evs, "signals": signals})


@pytest.fixture(params=["sqlite", "postgresql"], scope="module")
def catalog(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catalog]:
    if request.param == "sqlite":
        cat = Catalog.open(tmp_path_factory.mktemp("catalog") / "catalog.db")
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        cat = Catalog.open(server.create_database())
    a = make_sidecar("bags/a.mcap", start_s=0, duration_s=300, topics=[LIDAR], tags={"vehicle": "odaiba-3"})
    b = make_sidecar("bags/b.mcap", start_s=86400, duration_s=300, topics=[LIDAR], tags={"vehicle": "odaiba-4"})
    c = make_sidecar("bags/c.mcap", start_s=2 * 86400, duration_s=300, topics=[], tags={"vehicle": "odaiba-4"})
    cat.upsert(
        [
            _with(a, [("hard_brake", 10, 11.5, ""), ("hard_brake", 100, 101, ""), ("gap", 50, 51, LIDAR[0])], 72),
            _with(b, [("stop", 0, 30, ""), ("gap", 5, 6, "/sensing/camera/front")], 30),
            _with(c, [("hard_brake", 20, 21, "")], None),
        ]
    )
    yield cat
    cat.close()


def _paths(cat: Catalog, q: str) -> list[str]:
    return sorted(r.path for r in search(cat, q).results)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("event:hard_brake", ["bags/a.mcap", "bags/c.mcap"]),
        ("event:hard_brake vehicle:odaiba-4", ["bags/c.mcap"]),
        ("event:gap topic:/sensing/lidar/*", ["bags/a.mcap"]),
        ("event:gap", ["bags/a.mcap", "bags/b.mcap"]),
        ("-event:hard_brake", ["bags/b.mcap"]),
        ("event:stop OR event:hard_brake", ["bags/a.mcap", "bags/b.mcap", "bags/c.mcap"]),
        ("event:*", ["bags/a.mcap", "bags/b.mcap", "bags/c.mcap"]),
        ("speed>50kmh", ["bags/a.mcap"]),
        ("speed>=30kmh", ["bags/a.mcap", "bags/b.mcap"]),
        ("speed>50mph", []),
        ("speed<1kmh", ["bags/a.mcap", "bags/b.mcap"]),
    ],
)
def test_event_and_speed_terms(catalog: Catalog, query: str, expected: list[str]) -> None:
    assert _paths(catalog, query) == expected


def test_hits_are_the_events_the_terms_name(catalog: Catalog) -> None:
    [a] = [r for r in search(catalog, "event:gap topic:/sensing/lidar/*").results]
    assert [(h.kind, h.topic, h.offset_s, h.duration_s) for h in a.events] == [("gap", LIDAR[0], 50.0, 1.0)]
    both = {r.path: [h.kind for h in r.events] for r in search(catalog, "event:hard_brake OR event:stop").results}
    assert both == {"bags/a.mcap": ["hard_brake", "hard_brake"], "bags/b.mcap": ["stop"], "bags/c.mcap": ["hard_brake"]}
    assert all(not r.events for r in search(catalog, "vehicle:odaiba-4").results)  # no event term: no hits


def test_fleet_counts_on_both_backends(catalog: Catalog) -> None:
    by_vehicle = {(c.group, c.kind): (c.events, c.bags) for c in event_counts(catalog, "event:hard_brake")}
    assert by_vehicle == {("odaiba-3", "hard_brake"): (2, 1), ("odaiba-4", "hard_brake"): (1, 1)}
    by_day = {(c.group, c.kind): c.events for c in event_counts(catalog, "", by="day")}
    day0 = "2025-01-01"
    assert by_day[(day0, "hard_brake")] == 2 and by_day[("2025-01-03", "hard_brake")] == 1
    assert by_day[("2025-01-02", "stop")] == 1 and T0 // (86400 * S) * 86400 * S == T0
    hours = {c.kind: c.hours for c in event_counts(catalog, "vehicle:odaiba-4", by="vehicle")}
    assert hours["stop"] == pytest.approx(30 / 3600, abs=1e-4)  # rounded to 4 decimals


def test_removing_bags_updates_the_event_stats(catalog: Catalog, tmp_path) -> None:
    from toolkit.data.catalog_events import event_stats

    def stats() -> dict[tuple[str, str], int]:
        with catalog.engine.connect() as conn:
            return {(r.kind, r.topic): r.bags for r in conn.execute(event_stats.select())}

    before = stats()
    assert before[("hard_brake", "")] == 2
    victim = catalog.find_by_path("bags/c.mcap")
    assert victim is not None
    catalog.remove([victim.id])
    try:
        assert stats()[("hard_brake", "")] == 1
        assert _paths(catalog, "event:hard_brake") == ["bags/a.mcap"]
    finally:
        catalog.upsert([victim])
    assert stats() == before
