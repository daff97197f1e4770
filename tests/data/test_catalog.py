"""Catalog writes keep the per-topic and per-tag bag counts equal to a recount of the rows."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import distinct, func, select

from toolkit.data.catalog import Catalog, tag_stats, tags, topic_stats, topics

from .factories import make_sidecar

A = ("/a", "std_msgs/msg/String", 3)
B = ("/b", "sensor_msgs/msg/Imu", 5)


def recount(cat: Catalog) -> tuple[set[tuple[str, str, int]], set[tuple[str, str, int]]]:
    with cat.engine.connect() as conn:
        t = conn.execute(
            select(topics.c.name, topics.c.type, func.count(distinct(topics.c.bag_id))).group_by(
                topics.c.name, topics.c.type
            )
        ).all()
        g = conn.execute(
            select(tags.c.key, tags.c.value, func.count(distinct(tags.c.bag_id))).group_by(tags.c.key, tags.c.value)
        ).all()
        ts = conn.execute(select(topic_stats.c.name, topic_stats.c.type, topic_stats.c.bags)).all()
        gs = conn.execute(select(tag_stats.c.key, tag_stats.c.value, tag_stats.c.bags)).all()
    assert {tuple(r) for r in ts} == {tuple(r) for r in t}
    assert {tuple(r) for r in gs} == {tuple(r) for r in g}
    return {tuple(r) for r in ts}, {tuple(r) for r in gs}  # type: ignore[misc]


def test_stats_follow_upsert_replace_remove_and_rebuild(tmp_path: Path) -> None:
    cat = Catalog.open(tmp_path / "c.db")
    one = make_sidecar("one.mcap", topics=[A, B], tags={"vehicle": "v1"})
    two = make_sidecar("two.mcap", topics=[A], tags={"vehicle": "v1", "weather": "rain"})
    cat.upsert([one, two])
    assert recount(cat) == ({("/a", A[1], 2), ("/b", B[1], 1)}, {("vehicle", "v1", 2), ("weather", "rain", 1)})
    # Re-tagging replaces the bag's rows: counts move, never double.
    cat.upsert([two.model_copy(update={"tags": {"vehicle": "v2"}})])
    assert recount(cat)[1] == {("vehicle", "v1", 1), ("vehicle", "v2", 1)}
    cat.remove([one.id])
    assert recount(cat) == ({("/a", A[1], 1)}, {("vehicle", "v2", 1)})
    cat.rebuild([one])
    assert recount(cat) == ({("/a", A[1], 1), ("/b", B[1], 1)}, {("vehicle", "v1", 1)})
    cat.close()
