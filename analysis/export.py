"""Write plotly figures to HTML (self-contained, offline) and static PNG/PDF/SVG via kaleido.

Static export needs a Chromium-family browser. On Debian, ``apt-get install -y chromium``
puts one at ``/usr/bin/chromium``; it is used through the ``BROWSER_PATH`` environment
variable, which kaleido (choreographer) reads, unless ``BROWSER_PATH`` is already set.
MathJax is disabled for static export (it would be fetched from a CDN; the app is offline).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from analysis.layout import EXPORT_WIDTH, exportable
from instructedit.io import atomic_write_bytes, atomic_write_text

logger = logging.getLogger(__name__)

DEBIAN_CHROMIUM = Path("/usr/bin/chromium")
BROWSER_NAMES: tuple[str, ...] = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
STATIC_FORMATS: tuple[str, ...] = ("png", "pdf", "svg", "jpeg", "webp")
PLOTLYJS_FILENAME = "plotly.min.js"
INSTALL_HINT = (
    "install a browser with `apt-get install -y chromium` (Debian) or set BROWSER_PATH to a Chrome/Chromium binary"
)


class BrowserNotFoundError(RuntimeError):
    """No Chromium/Chrome for kaleido's static export."""


def find_browser() -> str | None:
    """Path of the browser kaleido will use: ``BROWSER_PATH``, Debian chromium, or one on PATH."""
    configured = os.environ.get("BROWSER_PATH")
    if configured:
        return configured if Path(configured).is_file() else None
    if DEBIAN_CHROMIUM.is_file():
        return str(DEBIAN_CHROMIUM)
    return next((found for name in BROWSER_NAMES if (found := shutil.which(name))), None)


def ensure_browser() -> str:
    """Point kaleido at a browser (setting ``BROWSER_PATH`` if unset) or raise :class:`BrowserNotFoundError`."""
    browser = find_browser()
    if browser is None:
        configured = os.environ.get("BROWSER_PATH")
        where = f"BROWSER_PATH={configured!r} is not a file" if configured else "no Chromium/Chrome found"
        raise BrowserNotFoundError(f"static figure export needs a browser: {where}; {INSTALL_HINT}")
    os.environ.setdefault("BROWSER_PATH", browser)
    return browser


def html_text(fig: go.Figure, include_plotlyjs: bool | str = True) -> str:
    """A whole HTML page of `fig` in its file look, as wide as the page (responsive), its own height."""
    return exportable(fig, width=None).to_html(include_plotlyjs=include_plotlyjs, full_html=True,
                                               default_width="100%", config={"responsive": True})


def _write_html_embedded(fig: go.Figure, path: Path) -> None:
    atomic_write_text(path, html_text(fig))


def _write_html_directory(fig: go.Figure, path: Path) -> None:
    """HTML that loads ``plotly.min.js`` from beside it (written once per folder)."""
    script = path.parent / PLOTLYJS_FILENAME
    if not script.is_file():
        atomic_write_text(script, get_plotlyjs())
    atomic_write_text(path, html_text(fig, include_plotlyjs="directory"))


HTML_WRITERS: dict[str, Callable[[go.Figure, Path], None]] = {
    "embed": _write_html_embedded,
    "directory": _write_html_directory,
}


async def _render_all(figs: Sequence[go.Figure], formats: Sequence[str], scale: float) -> list[list[bytes]]:
    from kaleido import Kaleido  # imported here: only static export needs it

    async with Kaleido(n=1, mathjax=False) as renderer:
        out = []
        for fig in figs:
            fig = exportable(fig, width=fig.layout.width or EXPORT_WIDTH)
            size = {"width": fig.layout.width, "height": fig.layout.height or 500, "scale": scale}
            out.append([await renderer.calc_fig(fig, opts={"format": fmt, **size}) for fmt in formats])
        return out


def render_static(figs: Sequence[go.Figure], formats: Sequence[str], scale: float = 2.0) -> list[list[bytes]]:
    """Render each figure to each static format in one browser session: ``result[i][j]`` is
    figure i in format j, in the file look (`layout.exportable`): the layout's width, else EXPORT_WIDTH
    (1200 px), times `scale`; the layout's height (default 500).

    Runs in a worker thread with its own event loop, so it also works when the caller
    already has a running loop (e.g. inside Gradio or Jupyter).
    """
    if not figs or not formats:
        return [[] for _ in figs]
    ensure_browser()
    from kaleido.errors import ChromeNotFoundError

    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, _render_all(list(figs), list(formats), scale)).result()
    except ChromeNotFoundError as exc:
        raise BrowserNotFoundError(f"kaleido could not start the browser ({exc}); {INSTALL_HINT}") from exc


def _check_request(names: Sequence[str], formats: Sequence[str], html_plotlyjs: str) -> None:
    unknown = [f for f in formats if f != "html" and f not in STATIC_FORMATS]
    if unknown:
        raise ValueError(f"unknown format(s) {unknown}; allowed: html, {', '.join(STATIC_FORMATS)}")
    if html_plotlyjs not in HTML_WRITERS:
        raise ValueError(f"unknown html_plotlyjs {html_plotlyjs!r}; allowed: {', '.join(HTML_WRITERS)}")
    for name in names:
        if not name or Path(name).name != name or name in {".", ".."}:
            raise ValueError(f"name must be a plain file stem, got {name!r}")


def export_figures(
    figs: Mapping[str, go.Figure],
    out_dir: str | os.PathLike[str],
    formats: Sequence[str] = ("html", "png", "pdf", "svg"),
    html_plotlyjs: str = "embed",
    scale: float = 2.0,
) -> dict[str, list[Path]]:
    """Export several figures (name -> figure) with a single browser start; see :func:`export_figure`."""
    formats = list(dict.fromkeys(formats))
    _check_request(list(figs), formats, html_plotlyjs)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    static = [f for f in formats if f != "html"]
    rendered = render_static(list(figs.values()), static, scale=scale)
    written: dict[str, list[Path]] = {}
    for (name, fig), images in zip(figs.items(), rendered, strict=True):
        by_format = dict(zip(static, images, strict=True))
        paths = []
        for fmt in formats:
            path = folder / f"{name}.{fmt}"
            if fmt == "html":
                HTML_WRITERS[html_plotlyjs](fig, path)
            else:
                atomic_write_bytes(path, by_format[fmt])
            paths.append(path)
            logger.info("wrote %s", path)
        written[name] = paths
    return written


def export_figure(
    fig: go.Figure,
    out_dir: str | os.PathLike[str],
    name: str,
    formats: Sequence[str] = ("html", "png", "pdf", "svg"),
    html_plotlyjs: str = "embed",
    scale: float = 2.0,
) -> list[Path]:
    """Write ``fig`` as ``out_dir/name.<fmt>`` for each format; return the written paths.

    HTML works offline: plotly.js is embedded (``html_plotlyjs="embed"``) or written
    once beside it as ``plotly.min.js`` (``"directory"``). Static formats
    (png, pdf, svg, jpeg, webp) go through kaleido and need Chromium (see :func:`ensure_browser`);
    raster size is the figure's layout size times ``scale``. Every file is written atomically.
    """
    return export_figures({name: fig}, out_dir, formats=formats, html_plotlyjs=html_plotlyjs, scale=scale)[name]
