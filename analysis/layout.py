"""The frame every figure shares: a width that follows its box, panels wrapped into rows, a look that reads on
light and dark pages, and the fixed-width, white look of exported files.

Figures never set a width: in the app `gr.Plot` sizes them to their container (plotly autosize), exports get
EXPORT_WIDTH. Backgrounds are transparent and text a mid grey legible on white and on Gradio's dark theme;
the app's CSS then gives the text the theme's own colour. `exportable` turns a figure into its file look.
"""
from __future__ import annotations

import math
import textwrap

import plotly.graph_objects as go

TEMPLATE = "simple_white"
TRANSPARENT = "rgba(0,0,0,0)"
FONT_COLOUR = "#7a808c"            # contrast >= 4:1 on white and on Gradio's dark background
LINE_COLOUR = "rgba(128,128,128,0.55)"
GRID_COLOUR = "rgba(128,128,128,0.18)"
MAX_COLUMNS = 2                    # panels per row: still readable in a 390 px phone viewport
TITLE_CHARS = 38                   # a title line that fits a 390 px viewport at the title's font size
PANEL_TITLE_CHARS = 24             # a subplot title line in one of MAX_COLUMNS panels on a phone
EXPORT_WIDTH = 1200                # px, every exported file (PNG at scale 1 is this wide)
EXPORT_FONT = "#2a2a2a"
EXPORT_BACKGROUND = "white"
LEGEND_BELOW = {"orientation": "h", "x": 0.0, "xanchor": "left", "y": 0.0, "yref": "container", "yanchor": "bottom",
                "bgcolor": TRANSPARENT, "font": {"size": 11}}


def grid(n_panels: int, max_columns: int = MAX_COLUMNS) -> tuple[int, int]:
    """(rows, columns) for n panels, at most `max_columns` a row."""
    cols = max(1, min(n_panels, max_columns))
    return max(1, math.ceil(n_panels / cols)), cols


def cell(index: int, cols: int) -> tuple[int, int]:
    """1-based (row, col) of the index-th panel in a grid `cols` wide."""
    return index // cols + 1, index % cols + 1


def wrap(text: str, width: int) -> str:
    """Text broken at spaces into lines of at most `width` characters (plotly's <br>); words stay whole."""
    return "<br>".join(textwrap.wrap(str(text), width, break_long_words=False, break_on_hyphens=False)) or ""


def vertical_spacing(rows: int, row_px: int, gap_px: int) -> float:
    """make_subplots' vertical_spacing (a share of the plot area) for a gap of `gap_px` between rows."""
    return 0.0 if rows < 2 else gap_px / (rows * row_px + (rows - 1) * gap_px)


def themed(fig: go.Figure, height: int, title: str = "", note: str = "") -> go.Figure:
    """Autosized width, a fixed height, transparent backgrounds, grey text and lines; `title` wrapped to fit a
    phone, `note` as a smaller second line."""
    small = "".join(f"<br><sup>{line}</sup>" for line in wrap(note, int(TITLE_CHARS * 1.5)).split("<br>") if line)
    text = wrap(title, TITLE_CHARS) + small
    top = 50 + 24 * (text.count("<br>") + 1) if text else 40
    fig.update_layout(template=TEMPLATE, autosize=True, width=None, height=height, paper_bgcolor=TRANSPARENT,
                      plot_bgcolor=TRANSPARENT, font={"color": FONT_COLOUR},
                      title={"text": text, "x": 0.0, "xanchor": "left", "pad": {"l": 10}, "font": {"size": 16}},
                      margin={"l": 60, "r": 20, "t": top, "b": 40, "autoexpand": True})
    fig.update_xaxes(linecolor=LINE_COLOUR, tickcolor=LINE_COLOUR, gridcolor=GRID_COLOUR, automargin=True)
    fig.update_yaxes(linecolor=LINE_COLOUR, tickcolor=LINE_COLOUR, gridcolor=GRID_COLOUR, automargin=True)
    fig.update_annotations(font={"size": 12})
    return fig


def exportable(fig: go.Figure, width: int | None = EXPORT_WIDTH) -> go.Figure:
    """A copy in the look of a file: white background, dark text; `width` px wide (None: as wide as the page)."""
    out = go.Figure(fig)
    out.update_layout(width=width, paper_bgcolor=EXPORT_BACKGROUND, plot_bgcolor=EXPORT_BACKGROUND,
                      font={"color": EXPORT_FONT})
    return out
