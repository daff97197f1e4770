"""Dataset pages and API in Debian chromium over real uvicorn HTTP: list, frame grid with boxes, classes."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from registry.main import create_app
from tests.datasets.conftest import LIDAR
from tests.services.browser import serve_app
from toolkit.datasets import manifest as mf
from toolkit.datasets import versions as vs
from toolkit.datasets.create import create_dataset

pytestmark = pytest.mark.browser


def thumb_widths(page: Any) -> list[int]:
    """Natural widths of every thumbnail once loaded (they are lazy: scroll them into view first)."""
    for img in page.locator("img.thumb").all():
        img.scroll_into_view_if_needed()
    page.wait_for_function("Array.from(document.querySelectorAll('img.thumb')).every(i => i.complete)")
    return list(page.eval_on_selector_all("img.thumb", "imgs => imgs.map(i => i.naturalWidth)"))


@pytest.fixture(scope="module")
def site(spot_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    repo = tmp_path_factory.mktemp("pages") / "work"
    shutil.copytree(spot_template, repo, symlinks=True)
    home = tmp_path_factory.mktemp("pages-home")
    (home / ".gitconfig").write_text("[user]\n\tname = Pitlane Test\n\temail = test@pitlane.local\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        labelled = mf.read(repo / "datasets" / "spot")
        color = next(f for f in labelled.frames if "hand_color" in f.path and f.path.endswith(".jpg"))
        color.labels = [mf.Label(label="car", bbox=mf.BBox(x=64, y=48, w=320, h=240)), mf.Label(label="sign")]
        color.predictions = [
            mf.Label(label="person", bbox=mf.BBox(x=400, y=100, w=100, h=200), score=0.75, source="model:det@v1")
        ]
        vs.commit_version(repo, repo / "datasets" / "spot", labelled, "edit", frames_changed=False)
        create_dataset("lidar", [LIDAR], repo=repo)
        app = create_app(database_url=f"sqlite:///{home / 'registry.db'}", embedded_user="admin")
        app.state.dataset_repo = str(repo)
        with serve_app(app) as url:
            yield url, repo


def test_dataset_list_page(page: Any, site: tuple[str, Path]) -> None:
    url, _ = site
    page.goto(f"{url}/datasets")
    rows = page.locator("#datasets tbody tr")
    assert rows.count() == 2
    table = {
        r.locator("td").nth(0).inner_text(): (r.locator("td").nth(1).inner_text(), r.locator("td").nth(3).inner_text())
        for r in rows.all()
    }
    assert table == {"lidar": ("lidar@v1", "5"), "spot": ("spot@v2", "8")}
    page.click("text=spot")
    assert page.locator("#dataset-title").inner_text().startswith("spot")


def test_dataset_page_grid_boxes_classes_sources(page: Any, site: tuple[str, Path]) -> None:
    url, _ = site
    page.goto(f"{url}/datasets/spot")
    assert page.locator("#frame-count").inner_text() == "8"
    classes = {
        r.locator("td").nth(0).inner_text(): (r.locator("td").nth(1).inner_text(), r.locator("td").nth(2).inner_text())
        for r in page.locator("#classes tbody tr").all()
    }
    assert classes["car"] == ("1", "0") and classes["person"] == ("0", "1") and classes["sign"] == ("1", "0")
    assert page.locator("#sources tbody tr").count() == 2
    assert page.locator("#versions tbody tr").count() == 2
    assert page.locator("#frames figure.frame").count() == 8
    widths = thumb_widths(page)
    assert len(widths) == 8 and all(0 < w <= 256 for w in widths), widths
    boxed = page.locator("figure.frame:has(svg rect)")
    assert boxed.count() == 1
    label_rect = boxed.locator("rect.label")
    assert label_rect.get_attribute("data-label") == "car"
    # the box sits over the right part of the thumbnail: 640x480 shown at 256x192, box at (64,48)-(384,288)
    img_box = boxed.locator("img.thumb").bounding_box()
    rect_box = label_rect.bounding_box()
    assert img_box is not None and rect_box is not None
    assert rect_box["x"] - img_box["x"] == pytest.approx(64 * 0.4, abs=2.5)
    assert rect_box["width"] == pytest.approx(320 * 0.4, abs=2.5)
    assert boxed.locator("rect.prediction").get_attribute("data-label") == "person"
    assert "0.75" in boxed.locator("figcaption").inner_text() and "sign" in boxed.locator(".tag-label").inner_text()
    # an older version shows no labels
    page.click("#versions >> text=spot@v1")
    assert page.locator("figure.frame:has(svg rect)").count() == 0
    # filtering by class keeps only frames with that class
    page.goto(f"{url}/datasets/spot?label=car")
    assert page.locator("#frames figure.frame").count() == 1 and page.locator("#matching").inner_text() == "1 matching"


def test_pointcloud_thumbnails_and_api(page: Any, site: tuple[str, Path]) -> None:
    url, _ = site
    page.goto(f"{url}/datasets/lidar")
    assert page.locator("figure.frame[data-kind=pointcloud]").count() == 5
    assert thumb_widths(page) == [256] * 5
    with httpx.Client(base_url=url) as http:
        listed = http.get("/api/v1/datasets").json()
        assert [d["name"] for d in listed] == ["lidar", "spot"]
        one = http.get("/api/v1/datasets/spot", params={"version": 1}).json()
        assert one["stats"]["labelled_frames"] == 0 and [v["tag"] for v in one["versions"]] == ["spot@v1", "spot@v2"]
        assert http.get("/api/v1/datasets/spot/manifest").json()["version"] == 2
        r = http.get("/api/v1/datasets/ghost")
        assert r.status_code == 404 and "not found" in r.json()["error"]["message"]
        r = http.get("/api/v1/datasets/spot/frames/nope/thumbnail")
        assert r.status_code == 404


def test_dataset_api_needs_credentials(site: tuple[str, Path], tmp_path: Path) -> None:
    _, repo = site
    app = create_app(database_url=f"sqlite:///{tmp_path / 'registry.db'}")
    app.state.dataset_repo = str(repo)
    with serve_app(app) as url, httpx.Client(base_url=url) as http:
        assert http.get("/api/v1/datasets").status_code == 401
