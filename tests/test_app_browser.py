"""The app in Debian Chromium (Playwright): type an edit, click, see three columns and the chart; no request
leaves this machine. Screenshots go to $INSTRUCTEDIT_SCREENSHOTS (default: the test's temp folder)."""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import pytest


CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
LOCAL_SCHEMES = {"data", "blob"}

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason="Debian chromium is not installed")]


@pytest.fixture()
def page(served_app):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1600})
        page = context.new_page()
        page.requested = []
        page.on("request", lambda request: page.requested.append(request.url))
        try:
            yield page
        finally:
            context.close()
            browser.close()


def _off_machine(urls: list[str]) -> list[str]:
    parsed = [(url, urlparse(url)) for url in urls]
    return [url for url, p in parsed if p.scheme not in LOCAL_SCHEMES and p.hostname not in LOCAL_HOSTS]


def _shots(tmp_path) -> Path:
    folder = Path(os.environ.get("INSTRUCTEDIT_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_edit_in_the_browser(page, served_app, tmp_path):
    page.goto(served_app[0], wait_until="networkidle")
    page.get_by_label("Prompt", exact=True).fill("The Eiffel Tower is in")
    page.get_by_label("Target", exact=True).fill("Rome")
    page.get_by_label("Locality probes", exact=False).fill("The capital of Japan is => Tokyo")
    page.locator("#edit-button").click()
    third = page.locator("#col-third textarea")
    page.wait_for_function("el => el.value.length > 0", arg=third.element_handle(), timeout=60_000)
    for column in ("#col-before", "#col-seen", "#col-third"):
        assert page.locator(f"{column} textarea").input_value().strip()
        assert "p(target)" in page.locator(column).inner_text()
    page.locator("#probe-chart .js-plotly-plot").first.wait_for(timeout=30_000)
    assert page.locator("#probe-chart .js-plotly-plot .bars path").count() >= 6  # 3 series x 2 probes
    assert "Reliability" in page.locator("#col-seen").inner_text()
    page.screenshot(path=str(_shots(tmp_path) / "app_edit.png"), full_page=True)
    assert _off_machine(page.requested) == []


def test_bad_input_shows_an_error_and_the_next_edit_works(page, served_app, tmp_path):
    page.goto(served_app[0], wait_until="networkidle")
    page.get_by_label("Prompt", exact=True).fill("The Eiffel Tower is in")
    page.get_by_label("Target", exact=True).fill("Ro\u200bme")
    page.locator("#edit-button").click()
    page.get_by_text("Target: contains the invisible format character U+200B").first.wait_for(timeout=30_000)
    page.wait_for_timeout(800)  # let the toast finish fading in
    page.screenshot(path=str(_shots(tmp_path) / "app_error.png"), full_page=False)
    page.get_by_label("Target", exact=True).fill("Rome")
    page.locator("#edit-button").click()
    third = page.locator("#col-third textarea")
    page.wait_for_function("el => el.value.length > 0", arg=third.element_handle(), timeout=60_000)
    assert _off_machine(page.requested) == []


def test_other_tabs_render_offline(page, served_app, tmp_path):
    page.goto(served_app[0], wait_until="networkidle")
    page.get_by_role("tab", name="Results").click()
    page.get_by_text("Table 3").first.wait_for(timeout=30_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
    page.screenshot(path=str(_shots(tmp_path) / "app_results.png"), full_page=True)
    page.get_by_role("tab", name="Gradient directions").click()
    page.get_by_role("button", name="Draw").click()
    page.locator(".js-plotly-plot .scatterlayer .trace").first.wait_for(timeout=60_000)
    page.screenshot(path=str(_shots(tmp_path) / "app_directions.png"), full_page=True)
    page.get_by_role("tab", name="About").click()
    page.get_by_text("How to cite").wait_for()
    assert _off_machine(page.requested) == []
