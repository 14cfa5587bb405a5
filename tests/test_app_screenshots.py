"""`python -m workbench.ui.screenshots`: file names per tab, and a clear error (no app started) without Chromium.
Taking the screenshots themselves starts the real app and takes ~1.5 min; run the command for that."""
from __future__ import annotations

import logging

from workbench.ui import screenshots


def test_file_names_are_tab_slugs():
    assert [screenshots.slug(t) for t in screenshots.TABS] == ["edit", "results", "gradient-directions", "about"]
    assert [w for w, _ in screenshots.VIEWPORTS] == [1400, 390]


def test_missing_chromium_is_a_clear_error_and_starts_no_app(monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(screenshots, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setattr(screenshots, "start_app", lambda *a: (_ for _ in ()).throw(AssertionError("app started")))
    with caplog.at_level(logging.ERROR, logger=screenshots.__name__):
        assert screenshots.main(["--out", str(tmp_path / "shots")]) == 1
    assert "no-chromium not found" in caplog.text and "chromium" in caplog.text
    assert not (tmp_path / "shots").exists()
