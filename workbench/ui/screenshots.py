"""Screenshots of every tab of the real app at 1400 and 390 px wide (issue #15's closing note).

    python -m workbench.ui.screenshots --out assets/screenshots [--port N]

Starts `app.py` as `make app` does (the default model, the shipped editors, assets/), in a subprocess on
127.0.0.1, and drives it with Debian Chromium through Playwright: on the Edit tab the first example is run
and its result shown, then each other tab once its figures have rendered. Writes `<tab-slug>-<width>.png`
(full page, device scale factor 1) and stops the app at the end, also on an error.
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
VIEWPORTS = ((1400, 900), (390, 844))   # (width, height); screenshots are full page
TABS = ("Edit", "Results", "Gradient directions", "About")
APP_ENV = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
START_TIMEOUT_S = 180
EDIT_TIMEOUT_MS = 180_000   # the first edit also loads the model and the editors
PLOT_TIMEOUT_MS = 60_000
SETTLE_MS = 1200            # plotly's resize after a tab became visible
OVERFLOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
EDIT_DONE = """() => {
  const third = document.querySelector('#col-third textarea');
  const seen = document.querySelector('#col-seen');
  return (third && third.value.length > 0) || (seen && seen.innerText.includes('Could not edit'));
}"""


class ScreenshotError(RuntimeError):
    """The screenshots could not be taken; the message says why."""


def slug(tab: str) -> str:
    """The file-name part of a tab: 'Gradient directions' -> 'gradient-directions'."""
    return re.sub(r"[^a-z0-9]+", "-", tab.lower()).strip("-")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_chromium() -> str:
    """The browser's path, or a ScreenshotError saying how to get it (never `playwright install`)."""
    if not CHROMIUM.is_file():
        raise ScreenshotError(f"{CHROMIUM} not found: the screenshots need Debian's Chromium "
                              "(`apt-get install chromium`, see packages.txt)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as err:
        raise ScreenshotError("the screenshots need the Python package playwright (in requirements.txt)") from err
    return str(CHROMIUM)


def start_app(port: int, app_log) -> subprocess.Popen:
    """`python app.py` on 127.0.0.1:port with the default settings; its output goes to `app_log`."""
    env = {**os.environ, **APP_ENV, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port)}
    log.info("starting app.py on 127.0.0.1:%d", port)
    return subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env, stdout=app_log,
                            stderr=subprocess.STDOUT)


def _tail(app_log, chars: int = 2000) -> str:
    app_log.flush()
    return Path(app_log.name).read_text(encoding="utf-8", errors="replace")[-chars:]


def wait_for_app(url: str, proc: subprocess.Popen, app_log, timeout_s: float = START_TIMEOUT_S) -> None:
    """Until `url` answers HTTP 200; a ScreenshotError (with the app's last output) if it exits or times out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ScreenshotError(f"app.py exited with code {proc.returncode}:\n{_tail(app_log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise ScreenshotError(f"app.py did not answer {url} within {timeout_s} s:\n{_tail(app_log)}")


def stop_app(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log.info("app.py stopped")


def open_tab(page, name: str) -> None:
    """Click the tab; a narrow viewport folds the last tabs into the 'More tabs' menu."""
    tab = page.get_by_role("tab", name=name, exact=True)
    if tab.count() and tab.first.is_visible():
        tab.first.click()
    else:
        page.locator('button[aria-label="More tabs"]').click()
        page.locator(".overflow-dropdown button", has_text=name).click()


def run_first_example(page) -> None:
    """Click the first example (it fills the form and runs the edit) and wait for the three columns."""
    example = page.locator("button.gallery-item").first
    example.wait_for(timeout=PLOT_TIMEOUT_MS)
    log.info("running the example %r", example.inner_text().strip())
    started = time.monotonic()
    example.click()
    page.wait_for_function(EDIT_DONE, timeout=EDIT_TIMEOUT_MS, polling=500)
    if "Could not edit" in page.locator("#col-seen").inner_text():
        raise ScreenshotError("the example's edit failed: " + page.locator("#col-seen").inner_text()[:500])
    page.locator("#probe-chart .js-plotly-plot").first.wait_for(timeout=PLOT_TIMEOUT_MS)
    log.info("the edit finished in %.0f s", time.monotonic() - started)


def show_tab(page, name: str) -> None:
    """Open the tab and wait until what it shows has rendered (the Edit tab: the example's result)."""
    open_tab(page, name)
    if name == "Edit":
        run_first_example(page)
    elif name == "Results":
        for plot in ("#results-table3", "#results-figure3", "#results-sequence"):
            page.locator(f"{plot} .js-plotly-plot").wait_for(timeout=PLOT_TIMEOUT_MS)
    elif name == "Gradient directions":
        page.get_by_role("button", name="Draw", exact=True).click()
        page.locator("#directions-plot .js-plotly-plot .scatterlayer .trace").first.wait_for(timeout=PLOT_TIMEOUT_MS)
    elif name == "About":
        page.get_by_text("How to cite").first.wait_for(timeout=PLOT_TIMEOUT_MS)
    page.wait_for_timeout(SETTLE_MS)


def shoot_width(browser, url: str, width: int, height: int, out: Path) -> list[Path]:
    """One page at this viewport: every tab in turn, a full-page PNG of each."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1)
    try:
        page = context.new_page()
        page.goto(url, wait_until="load")
        page.locator("#edit-button").wait_for(timeout=PLOT_TIMEOUT_MS)
        written = []
        for tab in TABS:
            try:
                show_tab(page, tab)
            except PlaywrightTimeout as err:
                raise ScreenshotError(f"{tab} tab at {width} px did not render: {err}") from err
            overflow = page.evaluate(OVERFLOW)
            if overflow > 0:
                log.warning("%s at %d px: the page scrolls sideways by %d px", tab, width, overflow)
            path = out / f"{slug(tab)}-{width}.png"
            page.screenshot(path=str(path), full_page=True)
            log.info("wrote %s (%.0f KB)", path, path.stat().st_size / 1024)
            written.append(path)
        return written
    finally:
        context.close()


def take_screenshots(out: Path, port: int | None = None) -> list[Path]:
    """Start the app, take every screenshot into `out`, stop the app (also on an error)."""
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    url = f"http://127.0.0.1:{port}/"
    with tempfile.NamedTemporaryFile("w+", prefix="instructedit-app-", suffix=".log") as app_log:
        proc = start_app(port, app_log)
        try:
            wait_for_app(url, proc, app_log)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=executable, args=ARGS)
                try:
                    return [p for width, height in VIEWPORTS for p in shoot_width(browser, url, width, height, out)]
                finally:
                    browser.close()
        finally:
            stop_app(proc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workbench.ui.screenshots", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "assets" / "screenshots", help="folder for the PNGs")
    parser.add_argument("--port", type=int, default=None, help="the app's port (default: a free one)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    try:
        written = take_screenshots(args.out, args.port)
    except ScreenshotError as err:
        log.error("%s", err)
        return 1
    log.info("%d screenshots in %s (%.0f s)", len(written), args.out, time.monotonic() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
