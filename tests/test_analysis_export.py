"""Figure export: offline HTML and kaleido PNG/PDF/SVG files that are valid and non-empty."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import pytest

from analysis import export, paper_numbers
from analysis.export import BrowserNotFoundError, ensure_browser, export_figure, export_figures, find_browser
from analysis.figures import fig_directions, fig_seen_unseen

needs_browser = pytest.mark.skipif(
    find_browser() is None,
    reason="no Chromium for kaleido static export (install with `apt-get install -y chromium`)",
)
EXTERNAL_SCRIPT = re.compile(r"<script[^>]+src=[\"']https?://", re.IGNORECASE)


@pytest.fixture(scope="module")
def scatter() -> go.Figure:
    points = pd.DataFrame({"x": [0.0, 1.0, 2.0], "y": [1.0, 0.0, 1.0], "editor": ["InstructEdit"] * 3,
                           "task": ["Recent", "CounterFact", "zsRE"]})
    return fig_directions(points, title="export test")


def _check_file(path: Path, fmt: str) -> None:
    data = path.read_bytes()
    assert len(data) > 100, f"{path} is (nearly) empty"
    checks = {
        "png": lambda: data.startswith(b"\x89PNG\r\n\x1a\n"),
        "pdf": lambda: data.startswith(b"%PDF"),
        "svg": lambda: b"<svg" in data[:2000],
        "html": lambda: b"<html" in data[:2000].lower(),
    }
    assert checks[fmt](), f"{path} is not a valid {fmt}"


@needs_browser
def test_export_all_formats(tmp_path: Path, scatter: go.Figure) -> None:
    paths = export_figure(scatter, tmp_path / "out", "fig2a")
    assert [p.name for p in paths] == ["fig2a.html", "fig2a.png", "fig2a.pdf", "fig2a.svg"]
    for path, fmt in zip(paths, ("html", "png", "pdf", "svg"), strict=True):
        _check_file(path, fmt)
    assert not list((tmp_path / "out").glob("*.tmp"))


@needs_browser
def test_export_many_figures_in_one_session(tmp_path: Path, scatter: go.Figure) -> None:
    fig3 = fig_seen_unseen(paper_numbers.figure3())
    written = export_figures({"a": scatter, "fig3": fig3}, tmp_path, formats=("png",))
    assert set(written) == {"a", "fig3"}
    for paths in written.values():
        _check_file(paths[0], "png")


def test_html_is_offline_embedded(tmp_path: Path, scatter: go.Figure) -> None:
    (path,) = export_figure(scatter, tmp_path, "offline", formats=("html",))
    _check_file(path, "html")
    text = path.read_text(encoding="utf-8")
    assert not EXTERNAL_SCRIPT.search(text), "HTML must not load scripts from a CDN"
    assert len(text) > 1_000_000  # plotly.js is embedded


def test_html_directory_mode_writes_plotlyjs_beside_it(tmp_path: Path, scatter: go.Figure) -> None:
    (path,) = export_figure(scatter, tmp_path, "dir", formats=("html",), html_plotlyjs="directory")
    text = path.read_text(encoding="utf-8")
    assert not EXTERNAL_SCRIPT.search(text)
    assert 'src="plotly.min.js"' in text
    assert (tmp_path / "plotly.min.js").stat().st_size > 1_000_000


def test_bad_requests_raise_before_any_work(tmp_path: Path, scatter: go.Figure) -> None:
    with pytest.raises(ValueError, match="unknown format"):
        export_figure(scatter, tmp_path, "x", formats=("html", "eps"))
    with pytest.raises(ValueError, match="html_plotlyjs"):
        export_figure(scatter, tmp_path, "x", formats=("html",), html_plotlyjs="cdn")
    with pytest.raises(ValueError, match="plain file stem"):
        export_figure(scatter, tmp_path, "../escape", formats=("html",))
    assert not list(tmp_path.iterdir())


def test_missing_browser_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, scatter: go.Figure) -> None:
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-such-chromium"))
    assert find_browser() is None
    with pytest.raises(BrowserNotFoundError, match="apt-get install -y chromium"):
        ensure_browser()
    with pytest.raises(BrowserNotFoundError, match="apt-get install -y chromium"):
        export_figure(scatter, tmp_path, "x", formats=("png",))


def test_debian_chromium_is_used_when_browser_path_unset(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\n")
    monkeypatch.setenv("BROWSER_PATH", "placeholder")  # so monkeypatch restores the variable afterwards
    monkeypatch.delenv("BROWSER_PATH")
    monkeypatch.setattr(export, "DEBIAN_CHROMIUM", fake)
    assert ensure_browser() == str(fake)
    assert os.environ["BROWSER_PATH"] == str(fake)
