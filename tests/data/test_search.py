"""Search language end to end on a catalog of constructed sidecars: each kind of term, errors, hints."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.services.postgres import PostgresServer, postgres_server  # noqa: F401 - session fixture
from toolkit.bags.summary import BagFormat
from toolkit.data import search as search_module
from toolkit.data.catalog import Catalog
from toolkit.data.search import search
from toolkit.errors import QueryError

from .factories import make_sidecar

LIDAR = ("/sensing/lidar/top/points", "sensor_msgs/msg/PointCloud2", 600)
CAM = ("/sensing/camera/front/image_raw/compressed", "sensor_msgs/msg/CompressedImage", 300)
FIX = ("/sensing/gnss/fix", "sensor_msgs/msg/NavSatFix", 100)
IMU = ("/imu/data", "sensor_msgs/msg/Imu", 5000)


@pytest.fixture(params=["sqlite", "postgresql"], scope="module")
def catalog(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catalog]:
    # The same tables and SQL on both backends: the registry may host the catalog in PostgreSQL.
    if request.param == "sqlite":
        cat = Catalog.open(tmp_path_factory.mktemp("catalog") / "catalog.db")
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        cat = Catalog.open(server.create_database())
    cat.upsert(
        [
            make_sidecar(
                "bags/odaiba/run_001.mcap",
                start_s=0,
                duration_s=120,
                topics=[LIDAR, CAM, FIX],
                tags={"vehicle": "odaiba-3", "weather": "rain"},
                notes="heavy rain at the bridge",
                gnss=(35.619, 139.770, 35.625, 139.779),
                compression="zstd",
            ),
            make_sidecar(
                "bags/odaiba/run_002.mcap",
                start_s=86400 * 40,
                duration_s=30,
                topics=[LIDAR, FIX],
                tags={"vehicle": "odaiba-3", "weather": "sunny"},
                gnss=(35.660, 139.700, 35.670, 139.710),
            ),
            make_sidecar(
                "bags/boston/husky run.bag",
                fmt=BagFormat.ROS1,
                start_s=-86400 * 400,
                duration_s=395,
                topics=[FIX, IMU],
                tags={"vehicle": "husky"},
                gnss=(42.375, -71.148, 42.376, -71.147),
            ),
            make_sidecar(
                "bags/lab/cdr_test",
                fmt=BagFormat.ROS2_SQLITE3,
                start_s=86400 * 100,
                duration_s=0.2,
                topics=[("/test_topic", "std_msgs/msg/String", 3)],
                bag_tags={"driver": "kenji"},
            ),
            make_sidecar("bags/lab/empty.mcap", start_s=None, topics=[]),
        ]
    )
    yield cat
    cat.close()


def paths(catalog: Catalog, q: str) -> set[str]:
    return {r.path for r in search(catalog, q, limit=100).results}


ODAIBA1, ODAIBA2 = "bags/odaiba/run_001.mcap", "bags/odaiba/run_002.mcap"
HUSKY, CDR, EMPTY = "bags/boston/husky run.bag", "bags/lab/cdr_test", "bags/lab/empty.mcap"
ALL = {ODAIBA1, ODAIBA2, HUSKY, CDR, EMPTY}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ALL),
        ("topic:/sensing/lidar/*", {ODAIBA1, ODAIBA2}),
        ("topic:/sensing/*/fix", {ODAIBA1, ODAIBA2, HUSKY}),
        ("topic:/imu/data", {HUSKY}),
        ("topic:/SENSING/*", set()),  # topic names are case-sensitive on both backends
        ("type:sensor_msgs/msg/CompressedImage", {ODAIBA1}),
        ("type:sensor_msgs/Imu", {HUSKY}),  # ROS 1 spelling
        ("type:std_msgs/*", {CDR}),
        ("duration>60", {ODAIBA1, HUSKY}),
        ("duration<=30", {ODAIBA2, CDR}),
        ("duration>2m", {HUSKY}),
        ("duration>=0.1h", {HUSKY}),
        ("duration=30", {ODAIBA2}),
        ("messages>1000", {HUSKY}),
        ("messages<1k", {ODAIBA2, CDR, EMPTY}),
        ("after:2025-01-01", {ODAIBA1, ODAIBA2, CDR}),
        ("after:2025-02-01", {ODAIBA2, CDR}),
        ("before:2025-01-01", {HUSKY}),
        ("after:2025-01-01 before:2025-02-01T00:00:00Z", {ODAIBA1}),
        ("vehicle:odaiba-3", {ODAIBA1, ODAIBA2}),
        ("vehicle:odaiba-*", {ODAIBA1, ODAIBA2}),
        ("tag:weather=rain", {ODAIBA1}),
        ("tag:weather", {ODAIBA1, ODAIBA2}),
        ("weather:sunny", {ODAIBA2}),
        ("driver:kenji", {CDR}),  # a tag read from the bag's own metadata
        ("near:35.62,139.77,500m", {ODAIBA1}),
        ("near:35.615,139.77,300m", {}),  # 444 m south of the box
        ("near:35.615,139.77,0.5km", {ODAIBA1}),
        ("near:42.3755,-71.1475,100m", {HUSKY}),
        ("bbox:35.6,139.6,35.7,139.8", {ODAIBA1, ODAIBA2}),
        ("bbox:35.7,139.8,35.6,139.75", {ODAIBA1}),  # corners in any order
        ("format:mcap", {ODAIBA1, ODAIBA2, EMPTY}),
        ("format:ros1", {HUSKY}),
        ("format:db3", {CDR}),
        ("compression:zstd", {ODAIBA1}),
        ("rain", {ODAIBA1}),  # tag value and note
        ('"at the bridge"', {ODAIBA1}),
        ("husky", {HUSKY}),  # tag value and path
        ('"husky run"', {HUSKY}),  # file name with a space
        ("run_00", {ODAIBA1, ODAIBA2}),  # LIKE's _ is escaped: matches literally
        ("lab", {CDR, EMPTY}),  # directory in the path
        ("RAIN", {ODAIBA1}),  # case-insensitive
        ("-rain", ALL - {ODAIBA1}),
        ("NOT vehicle:odaiba-3", {HUSKY, CDR, EMPTY}),
        ("vehicle:husky OR weather:sunny", {HUSKY, ODAIBA2}),
        ("vehicle:odaiba-3 AND -(weather:rain OR duration>100)", {ODAIBA2}),
        (
            "topic:/sensing/lidar/* type:sensor_msgs/msg/PointCloud2 duration>60 vehicle:odaiba-3 "
            'near:35.62,139.77,500m after:2025-01-01 "rain"',
            {ODAIBA1},
        ),
        ("size>=1000 size<1KiB", ALL),
        ("path:bags/lab/*", {CDR, EMPTY}),
    ],
)
def test_query_kinds(catalog: Catalog, query: str, expected: set[str]) -> None:
    assert paths(catalog, query) == set(expected)


def test_results_carry_fields_and_order(catalog: Catalog) -> None:
    res = search(catalog, "vehicle:odaiba-3").results
    assert [r.path for r in res] == [ODAIBA2, ODAIBA1]  # newest first
    first = res[1]
    assert first.format == "mcap"
    assert first.start == "2025-01-01T00:00:00+00:00"
    assert first.duration_s == 120
    assert first.messages == 1000
    assert first.topics == sorted([LIDAR[0], CAM[0], FIX[0]])
    assert first.tags == {"vehicle": "odaiba-3", "weather": "rain"}


def test_limit(catalog: Catalog) -> None:
    assert len(search(catalog, "", limit=2).results) == 2
    with pytest.raises(QueryError, match="limit"):
        search(catalog, "", limit=0)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("colour:red", "unknown field 'colour'; valid fields: after, bbox,"),
        ("duration>abc", "duration: 'abc' is not a number"),
        ("duration>5 parsecs", None),  # "parsecs" is a free-text word; duration>5 is fine
        ("duration~5", None),
        ("after:yesterday", "'yesterday' is not a date"),
        ("near:35.6,139.7", "near: expected 3 comma-separated values"),
        ("near:95,139.7,5m", "latitude must be in"),
        ("near:35.6,139.7,5mi", "near radius: '5mi' is not a number with a unit"),
        ("bbox:1,2,3", "bbox: expected 4"),
        ("format:zip", "'zip' is not one of ros1, ros2, mcap"),
        ("topic>5", "topic takes ':'"),
        ("(rain", "missing ')'"),
        ("rain)", "unexpected ')'"),
        ("()", "empty parentheses"),
        ('"rain', "unclosed quote"),
        ("rain OR", "query ends where a term was expected"),
        ("NOT", "query ends"),
        ("duration:", "duration: needs a value"),
        ("tag:=x", "tag: needs a key"),
    ],
)
def test_query_errors(catalog: Catalog, query: str, message: str | None) -> None:
    if message is None:
        search(catalog, query)  # parses
        return
    with pytest.raises(QueryError) as err:
        search(catalog, query)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_field_lists_tag_keys(catalog: Catalog) -> None:
    with pytest.raises(QueryError, match=r"tag keys: driver, weather$"):
        search(catalog, "road:wet")


def test_hints_say_which_topic_or_type_matches_nothing(catalog: Catalog) -> None:
    resp = search(catalog, "topic:/no/such/topic type:sensor_msgs/Imu")
    assert resp.results == []
    assert resp.hints == ["no bag has topic /no/such/topic"]
    resp = search(catalog, "type:foo_msgs/Bar")
    assert resp.hints == ["no bag has type foo_msgs/msg/Bar"]
    # Both terms exist, only their combination is empty: no misleading hint.
    resp = search(catalog, "topic:/imu/data type:sensor_msgs/msg/PointCloud2")
    assert resp.results == [] and resp.hints == []


def test_values_are_bound_parameters_not_sql(catalog: Catalog) -> None:
    evil = "x'); DROP TABLE catalog_bags; --"
    assert paths(catalog, f'"{evil}"') == set()
    assert paths(catalog, f'topic:"{evil}"') == set()
    assert catalog.stats().bags == 5


@pytest.mark.parametrize(
    "query",
    [
        "",
        "topic:/sensing/*/fix",
        "vehicle:odaiba-3",
        "-rain",
        "format:mcap OR duration>300",
        "weather:rain OR topic:/imu/data",
        "lab",
        "bbox:35.6,139.6,35.7,139.8",
    ],
)
@pytest.mark.parametrize("limit", [1, 2, 3])
def test_recent_window_plan_gives_the_same_answer(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch, query: str, limit: int
) -> None:
    # Small catalogs never use the newest-first window; shrink it so both plans run and must agree.
    expected = [r.path for r in search(catalog, query, limit=100).results][:limit]
    monkeypatch.setattr(search_module, "RECENT_WINDOW", 1)
    assert [r.path for r in search(catalog, query, limit=limit).results] == expected
