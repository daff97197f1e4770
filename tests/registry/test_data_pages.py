"""Data search and bag overview pages in Debian chromium, and the bags API, over real uvicorn HTTP."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from registry.main import create_app
from tests.conftest import BAGS
from tests.services.browser import serve_app
from toolkit.data.ingest import add_bags, tag_bag
from toolkit.data.repo import DataRepo, init_repo

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def data_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataRepo]:
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:  # module scope: the autouse per-test HOME is not set up yet
        mp.setenv("HOME", str(home))
        mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        (home / ".gitconfig").write_text("[user]\n\tname = Pitlane Test\n\temail = test@pitlane.local\n")
        repo = init_repo(tmp_path_factory.mktemp("data") / "repo")
        for fixture in (
            "sensors/husky_gps_imu.bag",
            "sensors/spot_cameras_compressed.bag",
            "sensors/spot_cameras_raw.bag",
            "ros1/turtlesim_example-lz4.bag",
        ):
            shutil.copy2(BAGS / fixture, repo.root / "bags" / Path(fixture).name)
        report = add_bags(repo, [repo.root / "bags"], workers=2)
        assert len(report.added) == 4 and not report.failed
        tag_bag(repo, "bags/husky_gps_imu.bag", {"vehicle": "husky", "weather": "sunny"})
        yield repo
        repo.close()


@pytest.fixture(scope="module")
def base_url(data_repo: DataRepo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("registry") / "registry.db"
    # embedded_user: anonymous requests act as a local admin, as `pitlane serve` does for one user.
    app = create_app(database_url=f"sqlite:///{db}", embedded_user="admin")
    app.state.data_repo = data_repo
    with serve_app(app) as url:
        yield url


def ids(data_repo: DataRepo) -> dict[str, str]:
    return {sc.path: sc.id for sc in data_repo.catalog.all_sidecars()}


def test_search_page_lists_matches_and_reports_bad_queries(page: Any, base_url: str) -> None:
    page.goto(f"{base_url}/data?q=type:sensor_msgs/CompressedImage+OR+vehicle:husky")
    rows = page.locator("#results tbody tr")
    assert rows.count() == 2
    assert sorted(rows.locator("td:first-child a").all_inner_texts()) == [
        "bags/husky_gps_imu.bag",
        "bags/spot_cameras_compressed.bag",
    ]
    assert "vehicle=husky" in rows.filter(has_text="husky").inner_text()

    page.fill("input[name=q]", "colour:red")
    page.click("form.search button[type=submit]")
    assert "unknown field 'colour'" in page.locator("#query-error").inner_text()
    assert page.locator("#results").count() == 0

    page.fill("input[name=q]", "topic:/no/such")
    page.click("form.search button[type=submit]")
    assert page.locator("#result-count").inner_text() == "0 bags"
    assert "no bag has topic /no/such" in page.content()


def test_bag_page_topics_timeline_and_gnss_track(page: Any, base_url: str, data_repo: DataRepo) -> None:
    page.goto(f"{base_url}/data?q=vehicle:husky")
    page.click("#results a")
    assert page.locator("#bag-path").inner_text() == "bags/husky_gps_imu.bag"
    sc = data_repo.catalog.get(ids(data_repo)["bags/husky_gps_imu.bag"])
    assert sc is not None
    rows = page.locator("#topics tbody tr")
    assert rows.count() == len(sc.summary.topics) == 3
    table = {r.locator("td").nth(0).inner_text(): r.locator("td").nth(2).inner_text() for r in rows.all()}
    assert table == {t.name: str(t.count) for t in sc.summary.topics}
    assert page.locator("#timeline .timeline-row").count() == 3
    assert page.locator("#timeline rect").count() > 3 * 30  # steady topics fill most of the 60 buckets
    track = page.locator("#gnss-track path#gnss-path")
    assert track.count() == 1
    d = track.get_attribute("d") or ""
    assert d.startswith("M ") and d.count("L") > 50
    box = track.bounding_box()
    assert box is not None and box["width"] > 50 and box["height"] > 50


def test_bag_page_plots_derived_signals_with_event_bands(page: Any, base_url: str, data_repo: DataRepo) -> None:
    sc = data_repo.catalog.get(ids(data_repo)["bags/husky_gps_imu.bag"])
    assert sc is not None and sc.signals is not None
    page.goto(f"{base_url}/data/bags/{sc.id}")
    assert page.locator("#signals .signal-panel").count() == 3  # speed, acceleration, yaw rate
    assert page.locator("#signals polyline.signal-line").count() >= 3
    stops = [e for e in sc.events if e.kind == "stop"]
    bands = page.locator("#signals rect.event-band[data-kind=stop]")
    assert stops and bands.count() == len(stops)
    box = bands.first.bounding_box()
    assert box is not None and box["width"] >= 1 and box["height"] > 100
    assert "/husky_velocity_controller/odom" in page.locator("#signal-sources").inner_text()
    # The strict CSP allows no inline styles or scripts: the plot uses presentation attributes only.
    assert page.locator("#signals [style]").count() == 0 and page.locator("script").count() == 0
    health = [e for e in sc.events if e.topic]
    assert page.locator("#health tbody tr").count() == len(health)


def test_search_page_lists_the_matched_minutes(page: Any, base_url: str, data_repo: DataRepo) -> None:
    page.goto(f"{base_url}/data?q=event:stop")
    sc = data_repo.catalog.get(ids(data_repo)["bags/husky_gps_imu.bag"])
    assert sc is not None
    hits = page.locator(f"#results tr.event-hits[data-id='{sc.id}'] .event-hit")
    stops = [e for e in sc.events if e.kind == "stop"]
    assert hits.count() == len(stops)
    first = (stops[0].start_ns - (sc.summary.start_ns or 0)) / 1e9
    assert hits.first.inner_text().startswith(f"stop +{first:.1f}")


@pytest.mark.parametrize("bag", ["bags/spot_cameras_compressed.bag", "bags/spot_cameras_raw.bag"])
def test_camera_thumbnails_load(page: Any, base_url: str, data_repo: DataRepo, bag: str) -> None:
    page.goto(f"{base_url}/data/bags/{ids(data_repo)[bag]}")
    thumbs = page.locator("img.thumb")
    assert thumbs.count() == 4  # colour, mono, fisheye mono, 16-bit depth
    page.wait_for_load_state("load")
    widths = page.eval_on_selector_all("img.thumb", "imgs => imgs.map(i => i.complete ? i.naturalWidth : -1)")
    assert len(widths) == 4 and all(0 < w <= 320 for w in widths), widths
    assert page.locator("#gnss-track").count() == 0  # no NavSatFix in a camera bag


def test_bags_api_over_http(base_url: str, data_repo: DataRepo) -> None:
    with httpx.Client(base_url=base_url) as http:
        r = http.get("/api/v1/bags", params={"q": "duration>100"})
        assert r.status_code == 200 and [b["path"] for b in r.json()] == ["bags/husky_gps_imu.bag"]
        husky = r.json()[0]["id"]
        r = http.get(f"/api/v1/bags/{husky}/timeline", params={"buckets": 10})
        tl = r.json()
        assert r.status_code == 200 and tl["buckets"] == 10 and tl["source"] == "index"
        assert {t["topic"]: sum(t["counts"]) for t in tl["topics"]} == {
            t.name: t.count for t in data_repo.catalog.get(husky).summary.topics
        }  # type: ignore[union-attr]
        r = http.get(f"/api/v1/bags/{husky}")
        assert r.status_code == 200 and r.json()["tags"] == {"vehicle": "husky", "weather": "sunny"}
        r = http.get("/api/v1/bags", params={"q": "near:1,2"})
        assert r.status_code == 400 and "near: expected 3" in r.json()["error"]["message"]
        r = http.get("/api/v1/bags/0000000000000000")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        r = http.get(f"/api/v1/bags/{husky}/thumbnail", params={"topic": "/fix"})
        assert r.status_code == 400 and "not camera images" in r.json()["error"]["message"]
        cams = ids(data_repo)["bags/spot_cameras_raw.bag"]
        r = http.get(f"/api/v1/bags/{cams}/thumbnail", params={"topic": "/spot/camera/hand_color/image", "size": 64})
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        assert r.content.startswith(b"\x89PNG")


def test_bags_api_needs_credentials_without_embedded_user(tmp_path: Path, data_repo: DataRepo) -> None:
    app = create_app(database_url=f"sqlite:///{tmp_path / 'registry.db'}")
    app.state.data_repo = data_repo
    with serve_app(app) as url, httpx.Client(base_url=url) as http:
        assert http.get("/api/v1/bags").status_code == 401
        assert http.get("/data", headers={"accept": "text/html"}).status_code == 401
