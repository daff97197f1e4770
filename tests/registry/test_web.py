"""Registry pages in Debian chromium (Playwright) against real uvicorn."""

from __future__ import annotations

from typing import Any

import pytest

from tests.registry.conftest import Registry, publish
from tests.services.browser import serve_app

pytestmark = pytest.mark.browser


def _seed(reg: Registry) -> dict[str, str]:
    admin = reg.admin
    admin.post("/api/v1/projects", json={"name": "perception", "description": "camera and lidar models"})
    admin.post("/api/v1/projects", json={"name": "planning"})
    for v in ("v1.0.0", "v1.1.0", "v2.0.0"):
        assert publish(admin, "perception", "detector", v, commit="c0ffee" * 6 + "abcd").status_code == 201
    publish(admin, "planning", "planner", "v1")
    admin.put("/api/v1/projects/perception/packages/detector/channels/production", json={"version": "v1.0.0"})
    return {
        "maintainer": reg.user("mia", "perception", "maintainer"),
        "developer": reg.user("dev", "perception", "developer"),
    }


def _login(page: Any, url: str, token: str) -> None:
    page.goto(f"{url}/packages")
    assert page.locator("h1").inner_text() == "Log in"  # anonymous -> login form (401)
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/packages")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_maintainer_moves_production_and_deprecates_from_the_browser(registry: Registry, page: Any) -> None:
    tokens = _seed(registry)
    with serve_app(registry.app) as url:
        _login(page, url, tokens["maintainer"])
        rows = page.locator("#packages tbody tr")
        assert rows.count() == 1  # planner is in a project mia does not belong to
        assert "production → v1.0.0" in rows.first.inner_text()
        cookies = {c["name"]: c for c in page.context.cookies()}
        assert cookies["pitlane_session"]["httpOnly"] and cookies["pitlane_session"]["sameSite"] == "Strict"
        assert page.evaluate("document.cookie") == ""  # scripts cannot read the token

        page.click("text=detector")
        page.wait_for_url(f"{url}/packages/perception/detector")
        assert page.locator("#versions tbody tr").first.get_attribute("data-version") == "v2.0.0"
        page.fill("#assign-channel input[name=channel]", "production")
        page.select_option("#assign-channel select[name=version]", "v2.0.0")
        page.click("#assign-channel button")
        page.wait_for_load_state()
        assert "production now points at v2.0.0" in page.locator(".flash").inner_text()
        assert page.locator("#channels tr[data-channel=production] td.mono").inner_text() == "v2.0.0"

        row = page.locator("#versions tr[data-version='v1.1.0']")
        row.locator("input[name=reason]").fill("regression at night")
        row.locator("button").click()
        page.wait_for_load_state()
        assert "v1.1.0 deprecated" in page.locator(".flash").inner_text()
        assert "regression at night" in page.locator("#versions tr[data-version='v1.1.0']").inner_text()
        page.click("#versions tr[data-version='v2.0.0'] a")
        assert page.locator("#files tbody tr").count() == 1
        page.goto(f"{url}/projects/perception")
        assert "mia" in page.locator("#members").inner_text()

    events = registry.admin.get("/api/v1/audit", params={"limit": 5}).json()
    assert [(e["actor"], e["action"]) for e in events[:2]] == [("mia", "version.deprecate"), ("mia", "channel.set")]
    assert events[1]["before"] == {"version": "v1.0.0"} and events[1]["after"] == {"version": "v2.0.0"}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_developer_cannot_move_production_and_forged_posts_fail(registry: Registry, page: Any) -> None:
    tokens = _seed(registry)
    with serve_app(registry.app) as url:
        _login(page, url, tokens["developer"])
        page.goto(f"{url}/packages/perception/detector")
        assert page.locator(".deprecate").count() == 0  # developers see no deprecate buttons
        page.fill("#assign-channel input[name=channel]", "production")
        page.select_option("#assign-channel select[name=version]", "v2.0.0")
        page.click("#assign-channel button")
        page.wait_for_load_state()
        flash = page.locator(".flash.error").inner_text()
        assert "may not channels:protected" in flash
        assert page.locator("#channels tr[data-channel=production] td.mono").inner_text() == "v1.0.0"
        # A POST without the page's CSRF token (what another site could send) is refused.
        status = page.evaluate(
            """async () => (await fetch('/packages/perception/detector/channel', {method: 'POST',
                 headers: {'Content-Type': 'application/x-www-form-urlencoded'},
                 body: 'csrf=forged&channel=staging&version=v2.0.0'})).status"""
        )
        assert status == 403
        page.goto(f"{url}/packages/planning/planner")
        assert page.locator("h1").inner_text() == "Not found"
        page.goto(f"{url}/packages")
        page.click("header form button")  # log out
        page.wait_for_url(f"{url}/login")
        page.goto(f"{url}/packages")
        assert page.locator("h1").inner_text() == "Log in"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_bad_token_is_refused_with_a_message(registry: Registry, page: Any) -> None:
    with serve_app(registry.app) as url:
        page.goto(f"{url}/login")
        page.fill("#token", "plt_123456789012_wrong")
        page.click("button[type=submit]")
        page.wait_for_load_state()
        assert "login failed: invalid token" in page.locator(".flash.error").inner_text()
        assert page.context.cookies() == []
