"""Evaluations, firmware and deployments over the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.registry.conftest import Registry, publish


def _setup(registry: Registry) -> None:
    admin = registry.admin
    for name in ("perception", "vehicles"):
        assert admin.post("/api/v1/projects", json={"name": name}).status_code == 201
    assert publish(admin, "perception", "detector", "v1.0.0").status_code == 201
    assert publish(admin, "perception", "detector", "v1.1.0").status_code == 201
    r = admin.put("/api/v1/projects/perception/packages/detector/channels/staging", json={"version": "v1.1.0"})
    assert r.status_code == 200, r.text


EVAL = {
    "suite": "nightly-sim",
    "passed": 98,
    "failed": 2,
    "total": 100,
    "metrics": {"mAP": 0.61},
    "verdict": "fail",
    "ci_run_url": "https://ci.example/run/1",
}
VERSION_PATH = "/api/v1/projects/perception/packages/detector/versions"


def test_evaluations_are_append_only_evidence(registry: Registry) -> None:
    _setup(registry)
    dev = registry.client(registry.user("dana", "perception", "developer"))
    r = dev.post(f"{VERSION_PATH}/v1.0.0/evaluations", json=EVAL)
    assert r.status_code == 201, r.text
    first = r.json()
    assert (first["posted_by"], first["verdict"], first["metrics"]) == ("dana", "fail", {"mAP": 0.61})
    again = dev.post(f"{VERSION_PATH}/v1.0.0/evaluations", json={**EVAL, "failed": 0, "passed": 100, "verdict": "pass"})
    assert again.status_code == 201 and again.json()["id"] != first["id"]
    listed = dev.get(f"{VERSION_PATH}/v1.0.0/evaluations").json()
    assert [e["verdict"] for e in listed] == ["fail", "pass"]  # both kept: evidence is never overwritten
    for method in ("PUT", "PATCH", "DELETE"):
        assert dev.request(method, f"{VERSION_PATH}/v1.0.0/evaluations").status_code == 405
    assert dev.get("/api/v1/projects/perception/packages/detector/evaluations").json()[0]["version"] == "v1.0.0"
    events = registry.admin.get("/api/v1/audit", params={"action": "evaluation.add"}).json()
    assert len(events) == 2 and events[0]["actor"] == "dana"


def test_evaluation_input_errors(registry: Registry) -> None:
    _setup(registry)
    admin = registry.admin
    bad = admin.post(f"{VERSION_PATH}/v1.0.0/evaluations", json={**EVAL, "total": 50})
    assert bad.status_code == 422 and "exceeds total" in bad.json()["error"]["message"]
    assert admin.post(f"{VERSION_PATH}/v1.0.0/evaluations", json={**EVAL, "verdict": "maybe"}).status_code == 422
    assert admin.post(f"{VERSION_PATH}/v9.9.9/evaluations", json=EVAL).status_code == 404
    viewer = registry.client(registry.user("vic", "perception", "viewer"))
    assert viewer.post(f"{VERSION_PATH}/v1.0.0/evaluations", json=EVAL).status_code == 403
    outsider = registry.client(registry.user("otto"))
    assert outsider.post(f"{VERSION_PATH}/v1.0.0/evaluations", json=EVAL).status_code in (403, 404)


def test_firmware_and_deployments(registry: Registry) -> None:
    _setup(registry)
    admin = registry.admin
    ops = registry.client(registry.user("olga", "vehicles", "developer"))
    fw = {
        "name": "adas-fw",
        "version": "2025.11.1",
        "packages": ["perception/detector@v1.0.0"],
        "ci_run_url": "https://ci.example/run/7",
    }
    # olga cannot read perception's packages yet: the firmware would leak them.
    assert ops.post("/api/v1/projects/vehicles/firmware", json=fw).status_code == 404
    r = admin.post("/api/v1/projects/perception/packages/detector/grants", json={"project": "vehicles"})
    assert r.status_code in (200, 201), r.text
    r = ops.post("/api/v1/projects/vehicles/firmware", json=fw)
    assert r.status_code == 201, r.text
    assert r.json()["packages"] == [{"project": "perception", "package": "detector", "version": "v1.0.0"}]
    assert ops.post("/api/v1/projects/vehicles/firmware", json=fw).status_code == 409  # immutable
    channel = {**fw, "version": "2025.11.2", "packages": ["perception/detector@staging"]}
    r = ops.post("/api/v1/projects/vehicles/firmware", json=channel)
    assert r.status_code == 400 and "exact versions" in r.json()["error"]["message"]
    d1 = ops.post(
        "/api/v1/deployments",
        json={
            "vehicle": "odaiba-3",
            "firmware": "adas-fw@2025.11.1",
            "site": "odaiba",
            "deployed_at": "2025-11-20T08:00:00+00:00",
        },
    )
    assert d1.status_code == 201, d1.text
    fw2 = {**fw, "version": "2025.11.3", "packages": ["perception/detector@v1.1.0"]}
    assert ops.post("/api/v1/projects/vehicles/firmware", json=fw2).status_code == 201
    d2 = ops.post(
        "/api/v1/deployments",
        json={
            "vehicle": "odaiba-3",
            "firmware": "adas-fw@2025.11.3",
            "status": "deployed",
            "deployed_at": "2025-11-24T08:00:00+00:00",
        },
    )
    assert d2.status_code == 201
    history = ops.get("/api/v1/deployments", params={"vehicle": "odaiba-3"}).json()
    assert [d["firmware"] for d in history] == ["adas-fw@2025.11.1", "adas-fw@2025.11.3"]
    current = ops.get("/api/v1/deployments", params={"current": True}).json()
    assert [(d["vehicle"], d["firmware"]) for d in current] == [("odaiba-3", "adas-fw@2025.11.3")]
    assert ops.post("/api/v1/deployments", json={"vehicle": "x", "firmware": "nope@1"}).status_code == 404
    assert (
        ops.post("/api/v1/deployments", json={"vehicle": "bad id!", "firmware": "adas-fw@2025.11.1"}).status_code == 400
    )
    shown = ops.get("/api/v1/firmware/adas-fw/2025.11.3").json()
    assert shown["packages"][0]["version"] == "v1.1.0"
    stranger = registry.client(registry.user("sam"))
    assert stranger.get("/api/v1/firmware").json() == []
    assert stranger.get("/api/v1/deployments").json() == []
    trace = ops.get("/api/v1/lineage/vehicle:odaiba-3").json()
    assert [f["version"] for f in trace["firmware"]] == ["2025.11.3"]
    assert [(p["package"], p["version"]) for p in trace["packages"]] == [("detector", "v1.1.0")]
    back = admin.get("/api/v1/lineage/package:perception/detector@v1.0.0").json()
    assert back["vehicles"] == []  # odaiba-3 moved on to v1.1.0
    assert [f["version"] for f in back["firmware"]] == ["2025.11.1"]
    assert admin.get("/api/v1/lineage/robot:1").status_code == 400
    assert admin.get("/api/v1/lineage/vehicle:nowhere").status_code == 404
