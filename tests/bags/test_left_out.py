"""Topics an output format cannot hold are left out and named, in the result, the lineage and one CLI line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcap.writer import Writer
from typer.testing import CliRunner

from tests.bags.test_matrix import MSGTYPE, ROS2_DEF, _payload
from toolkit.bags import read_lineage, read_messages, slice_bag
from toolkit.cli.main import app
from toolkit.errors import BagError

# A ROS 2 service event: rosbags cannot build these definitions (DESIGN: Known pitfalls).
EVENT_TYPE = "example_interfaces/srv/AddTwoInts_Event"
EVENT_DEF = "service_msgs/ServiceEventInfo info\nAddTwoInts_Request[<=1] request\nAddTwoInts_Response[<=1] response\n"


def mixed_mcap(path: Path) -> Path:
    """One decodable CDR topic, one service-event topic and one JSON topic, at t = 0..4."""
    with path.open("wb") as f:
        w = Writer(f)
        w.start(profile="ros2", library="test")
        ok = w.register_schema(name=MSGTYPE, encoding="ros2msg", data=ROS2_DEF.encode())
        ev = w.register_schema(name=EVENT_TYPE, encoding="ros2msg", data=EVENT_DEF.encode())
        js = w.register_schema(name="Pose", encoding="jsonschema", data=b'{"type": "object"}')
        chans = {
            "/sample": w.register_channel(topic="/sample", message_encoding="cdr", schema_id=ok),
            "/add/_service_event": w.register_channel(
                topic="/add/_service_event", message_encoding="cdr", schema_id=ev
            ),
            "/pose": w.register_channel(topic="/pose", message_encoding="json", schema_id=js),
        }
        for t in range(5):
            w.add_message(chans["/sample"], log_time=t, publish_time=t, data=_payload(t, "cdr"))
            w.add_message(chans["/add/_service_event"], log_time=t, publish_time=t, data=b"\x00\x01\x00\x00")
            w.add_message(chans["/pose"], log_time=t, publish_time=t, data=json.dumps({"x": t}).encode())
        w.finish()
    return path


@pytest.mark.parametrize(("fmt", "name"), [("ros1", "out.bag"), ("ros2", "out")])
def test_unrepresentable_topics_are_left_out_and_named(tmp_path: Path, fmt: str, name: str) -> None:
    src = mixed_mcap(tmp_path / "mixed.mcap")
    r = slice_bag(src, tmp_path / name, fmt=fmt)
    assert set(r.left_out) == ({"/pose", "/add/_service_event"} if fmt == "ros1" else {"/pose"})
    assert "json messages cannot be converted" in r.left_out["/pose"]
    assert read_lineage(tmp_path / name).left_out == r.left_out
    kept = {m.topic for m in read_messages(tmp_path / name)}
    assert kept == {"/sample", "/add/_service_event"} - set(r.left_out)
    assert r.per_topic["/sample"] == 5 and [m.timestamp_ns for m in read_messages(tmp_path / name, ["/sample"])] == [
        0,
        1,
        2,
        3,
        4,
    ]


def test_mcap_keeps_every_serialization(tmp_path: Path) -> None:
    src = mixed_mcap(tmp_path / "mixed.mcap")
    r = slice_bag(src, tmp_path / "out.mcap")
    assert not r.left_out and r.message_count == 15


def test_nothing_representable_is_one_error(tmp_path: Path) -> None:
    src = mixed_mcap(tmp_path / "mixed.mcap")
    with pytest.raises(BagError, match=r"no selected topic can be written as ros1: /pose \(json") as err:
        slice_bag(src, tmp_path / "out.bag", topics=["/pose"])
    assert "\n" not in str(err.value) and not (tmp_path / "out.bag").exists()


def test_cli_names_the_topics_it_leaves_out_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from toolkit.data.api import add_bags, init_repo

    data = init_repo(tmp_path / "data")
    src = mixed_mcap(data.root / "mixed.mcap")
    add_bags(data, [src])
    data.close()
    monkeypatch.chdir(data.root)
    r = CliRunner().invoke(app, ["data", "slice", "mixed.mcap", "--format", "ros1", "-o", "part.bag"])
    assert r.exit_code == 0, r.output
    notes = [line for line in r.stderr.splitlines() if line.startswith("note:")]
    assert notes == [
        "note: part.bag leaves out /add/_service_event, /pose "
        f"({EVENT_TYPE} cannot be converted to ros1; json messages cannot be converted to ros1)"
    ]
