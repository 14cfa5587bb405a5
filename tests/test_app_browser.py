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


def _open(page, url: str) -> None:
    """Load the app and wait for its page-load events (not for network idle: with a gr.State on the page,
    Gradio holds a heartbeat connection open for as long as the tab lives)."""
    page.goto(url, wait_until="load")
    page.get_by_text("Editors:").first.wait_for(timeout=60_000)
    page.locator("#edit-button").wait_for(timeout=60_000)


def _wait_for_value(page, selector: str, timeout: int = 60_000) -> None:
    """Until the first element of `selector` (a textarea) has a non-empty value."""
    handle = page.locator(selector).first.element_handle()
    page.wait_for_function("el => el.value.length > 0", arg=handle, timeout=timeout)


def test_edit_in_the_browser(page, served_app, tmp_path):
    _open(page, served_app[0])
    page.get_by_label("Prompt", exact=True).fill("The Eiffel Tower is in")
    page.get_by_label("Target", exact=True).fill("Rome")
    page.get_by_label("Locality probes", exact=False).fill("The capital of Japan is => Tokyo")
    page.locator("#edit-button").click()
    _wait_for_value(page, "#col-third textarea")
    for column in ("#col-before", "#col-seen", "#col-third"):
        assert page.locator(f"{column} textarea").first.input_value().strip()
        assert "p(target)" in page.locator(column).inner_text()
    page.locator("#probe-chart .js-plotly-plot").first.wait_for(timeout=30_000)
    assert page.locator("#probe-chart .js-plotly-plot .bars path").count() >= 6  # 3 series x 2 probes
    assert "Reliability" in page.locator("#col-seen").inner_text()
    page.screenshot(path=str(_shots(tmp_path) / "app_edit.png"), full_page=True)
    assert _off_machine(page.requested) == []


def test_bad_input_shows_an_error_and_the_next_edit_works(page, served_app, tmp_path):
    _open(page, served_app[0])
    page.get_by_label("Prompt", exact=True).fill("The Eiffel Tower is in")
    page.get_by_label("Target", exact=True).fill("Ro\u200bme")
    page.locator("#edit-button").click()
    page.get_by_text("Target: contains the invisible format character U+200B").first.wait_for(timeout=30_000)
    page.wait_for_timeout(800)  # let the toast finish fading in
    page.screenshot(path=str(_shots(tmp_path) / "app_error.png"), full_page=False)
    page.get_by_label("Target", exact=True).fill("Rome")
    page.locator("#edit-button").click()
    _wait_for_value(page, "#col-third textarea")
    assert _off_machine(page.requested) == []


def test_other_tabs_render_offline(page, served_app, tmp_path):
    _open(page, served_app[0])
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


def _fill(page, prompt: str, target: str) -> None:
    page.get_by_label("Prompt", exact=True).fill(prompt)
    page.get_by_label("Target", exact=True).fill(target)


def _history(page) -> str:
    return page.locator("#session-history").inner_text()


def _keep(page, prompt: str, target: str, number: int) -> None:
    _fill(page, prompt, target)
    page.locator("#keep-button").click()
    page.locator("#session-notice").get_by_text(f"Kept edit #{number}.").wait_for(timeout=60_000)


KEPT = [("The Eiffel Tower is in", "Rome"), ("The Colosseum is in", "Paris"), ("Big Ben is in", "Berlin")]


def test_session_history_undo_export_and_load(page, served_app, tmp_path):
    _open(page, served_app[0])
    for number, (prompt, target) in enumerate(KEPT, start=1):
        _keep(page, prompt, target, number)
    history = _history(page)
    assert all(prompt in history for prompt, _ in KEPT) and "3 kept edits" in page.locator("#session-notice").inner_text()
    page.locator("#undo-choice input").click()
    page.get_by_role("option", name="#2: The Colosseum is in → Paris").click()
    page.locator("#undo-button").click()
    page.locator("#session-notice").get_by_text("Undid edit #2").wait_for(timeout=60_000)
    history = _history(page)
    assert "The Eiffel Tower is in" in history and "Big Ben is in" in history and "Colosseum" not in history
    page.screenshot(path=str(_shots(tmp_path) / "app_session.png"), full_page=True)
    with page.expect_download() as download:
        page.locator("#export-button").click()
    saved = tmp_path / "session.json"
    download.value.save_as(saved)
    assert [e["target"] for e in __import__("json").loads(saved.read_text())["edits"]] == ["Rome", "Berlin"]
    page.locator("#reset-button").click()
    page.locator("#session-notice").get_by_text("Reset").wait_for(timeout=30_000)
    assert "Eiffel" not in _history(page)
    with page.expect_file_chooser() as chooser:
        page.locator("#import-button").click()
    chooser.value.set_files(str(saved))
    page.locator("#session-notice").get_by_text("Loaded 2 edit(s)").wait_for(timeout=60_000)
    history = _history(page)
    assert "The Eiffel Tower is in" in history and "Big Ben is in" in history and "Colosseum" not in history
    page.get_by_label("Ask the edited model").fill("The Eiffel Tower is in")
    page.locator("#ask-button").click()
    _wait_for_value(page, "#ask-after textarea")
    assert page.locator("#ask-before textarea").input_value()
    assert _off_machine(page.requested) == []


def test_share_link_prefills_the_form(page, served_app):
    _open(page, served_app[0])
    _fill(page, "The Colosseum is in", "Paris & Rome")
    page.get_by_label("Subject (optional)").fill("Colosseum")
    page.locator("#share-button").click()
    page.wait_for_function("el => el.value.startsWith('http')",
                           arg=page.locator("#share-url textarea").element_handle(), timeout=30_000)
    url = page.locator("#share-url textarea").input_value()
    assert url.startswith(served_app[0]) and "target=Paris+%26+Rome" in url
    _open(page, url)
    prompt = page.get_by_label("Prompt", exact=True)
    page.wait_for_function("el => el.value.length > 0", arg=prompt.element_handle(), timeout=30_000)
    assert prompt.input_value() == "The Colosseum is in"
    assert page.get_by_label("Target", exact=True).input_value() == "Paris & Rome"
    assert page.get_by_label("Subject (optional)").input_value() == "Colosseum"
    assert "Filled from the link" in page.locator("#link-note").inner_text()
    assert _off_machine(page.requested) == []


def test_an_error_replaces_stale_results(page, served_app, tmp_path):
    _open(page, served_app[0])
    _fill(page, "The Eiffel Tower is in", "Rome")
    page.locator("#edit-button").click()
    _wait_for_value(page, "#col-seen textarea")
    page.get_by_label("Target", exact=True).fill("Ro\u200bme")
    page.locator("#edit-button").click()
    page.locator("#edit-notice").get_by_text("Target: contains the invisible format character U+200B").wait_for(
        timeout=30_000)
    for column in ("#col-before", "#col-seen", "#col-third"):
        assert page.locator(f"{column} textarea").first.input_value() == ""
    assert "Could not edit" in page.locator("#col-seen").inner_text()
    page.screenshot(path=str(_shots(tmp_path) / "app_error_in_place.png"), full_page=True)
    page.locator("#clear-button").click()
    page.wait_for_function("el => el.value === ''",
                           arg=page.get_by_label("Prompt", exact=True).element_handle(), timeout=10_000)
    assert _off_machine(page.requested) == []
