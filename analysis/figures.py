"""Plotly figures in the style of the paper: Figure 2 (a, b, c, d), Figure 3 and Table 3.

Tasks are coloured, editors have their own marker symbol (see :mod:`analysis.style`).
Scatter panels of editing directions are fitted on the union of a panel's groups, so
positions within one panel are comparable (not across panels).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis import layout, paper_numbers, sources, style
from analysis.directionset import DirectionSet
from analysis.projection import AXIS_LABELS, project

logger = logging.getLogger(__name__)

DIRECTION_TASK_ORDER: tuple[str, ...] = ("Recent", "CounterFact", "zsRE", "ConvSent")
SEEN_UNSEEN_TASK_ORDER: tuple[str, ...] = ("Recent", "CounterFact", "zsRE", "ConvSent")
_HOVER_TEXT_CHARS = 120


def _legend_key(index: int) -> str:
    """Plotly's name of the i-th legend (``legend``, ``legend2``, ...)."""
    return "legend" if index == 0 else f"legend{index + 1}"


def _require(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what} needs columns {list(columns)}; missing {missing}")


def _error_bars(part: pd.DataFrame) -> dict[str, Any] | None:
    """Asymmetric error bars from optional ``ci_low``/``ci_high`` columns."""
    if not {"ci_low", "ci_high"} <= set(part.columns) or part[["ci_low", "ci_high"]].isna().all().all():
        return None
    plus = (part["ci_high"] - part["value"]).clip(lower=0).fillna(0).to_numpy()
    minus = (part["value"] - part["ci_low"]).clip(lower=0).fillna(0).to_numpy()
    return {"type": "data", "array": plus, "arrayminus": minus, "visible": True, "thickness": 1.2}


def _hover(part: pd.DataFrame) -> tuple[np.ndarray | None, str | None]:
    if not {"record_id", "instruction"} <= set(part.columns):
        return None, None
    text = part["instruction"].astype(str).str.slice(0, _HOVER_TEXT_CHARS).str.replace("\n", "<br>")
    custom = np.stack([part["record_id"].astype(str).to_numpy(), text.to_numpy()], axis=1)
    return custom, "record %{customdata[0]}<br>%{customdata[1]}<extra>%{fullData.name}</extra>"


def _scatter_traces(points: pd.DataFrame, symbols: dict[str, str]) -> list[go.Scatter]:
    """One trace per (editor, task), in the legend only through its task's key entry (legendgroup)."""
    traces = []
    for editor in style.ordered(points["editor"], ()):
        for task in style.ordered(points.loc[points["editor"] == editor, "task"], DIRECTION_TASK_ORDER):
            part = points[(points["editor"] == editor) & (points["task"] == task)]
            custom, template = _hover(part)
            marker = {"color": style.task_colour(task), "symbol": symbols[editor], "size": 7, "opacity": 0.8,
                      "line": {"width": 0.5, "color": "white"}}
            traces.append(go.Scatter(x=part["x"], y=part["y"], mode="markers", name=f"{task} ({editor})",
                                     marker=marker, showlegend=False, legendgroup=f"task:{task}",
                                     customdata=custom, hovertemplate=template,
                                     meta={"editor": editor, "task": task}))
    return traces


def _key_traces(points: pd.DataFrame, symbols: dict[str, str], editors_too: bool) -> list[go.Scatter]:
    """The compact legend: one entry per task (its colour; a click toggles the task everywhere), and one per
    editor (its marker) where a panel holds several editors. Legend-only traces, no data."""
    keys = [(task, {"color": style.task_colour(task), "symbol": "circle"}, f"task:{task}", "task")
            for task in style.ordered(points["task"], DIRECTION_TASK_ORDER)]
    if editors_too:
        keys += [(editor, {"color": layout.FONT_COLOUR, "symbol": symbols[editor]}, f"editor:{editor}", "editor")
                 for editor in symbols]
    return [go.Scatter(x=[None], y=[None], mode="markers", name=name, marker={**marker, "size": 9},
                       legendgroup=group, showlegend=True, hoverinfo="skip", meta={"legend_key": kind})
            for name, marker, group, kind in keys]


def is_data(trace) -> bool:
    """A trace that draws points (not a legend key)."""
    return not (isinstance(trace.meta, dict) and "legend_key" in trace.meta)


SCATTER_ROW_PX, SCATTER_GAP_PX = 340, 95


def fig_directions(
    points_df: pd.DataFrame,
    title: str = "",
    axis_titles: tuple[str, str] = ("Component 1", "Component 2"),
    panel_titles: Sequence[str] | None = None,
) -> go.Figure:
    """Scatter of 2-D direction points (columns ``x, y, editor, task``), one trace per (editor, task).

    An optional ``panel`` column splits the points into subplots, wrapped into rows of at most
    ``layout.MAX_COLUMNS``; one compact legend (tasks, and editors where panels mix them) under them all.
    Optional ``record_id``/``instruction`` columns feed the hover text.
    """
    _require(points_df, ("x", "y", "editor", "task"), "fig_directions")
    points = points_df.assign(editor=points_df["editor"].astype(str), task=points_df["task"].astype(str))
    panels = list(dict.fromkeys(points["panel"])) if "panel" in points.columns else [None]
    titles = list(panel_titles) if panel_titles is not None else [("" if p is None else str(p)) for p in panels]
    if len(titles) != len(panels):
        raise ValueError(f"{len(panels)} panels but {len(titles)} panel titles")
    rows, cols = layout.grid(len(panels))
    fig = make_subplots(rows=rows, cols=cols, horizontal_spacing=0.1,
                        subplot_titles=[layout.wrap(t, layout.PANEL_TITLE_CHARS) for t in titles],
                        vertical_spacing=layout.vertical_spacing(rows, SCATTER_ROW_PX, SCATTER_GAP_PX))
    symbols = style.symbol_map(style.ordered(points["editor"], ()))
    mixed = False
    for i, panel in enumerate(panels):
        part = points if panel is None else points[points["panel"] == panel]
        mixed = mixed or part["editor"].nunique() > 1
        row, col = layout.cell(i, cols)
        for trace in _scatter_traces(part, symbols):
            fig.add_trace(trace, row=row, col=col)
        fig.update_xaxes(title_text=axis_titles[0], showticklabels=False, mirror=True, row=row, col=col)
        fig.update_yaxes(title_text=axis_titles[1], showticklabels=False, mirror=True, row=row, col=col)
    for trace in _key_traces(points, symbols, editors_too=mixed):
        fig.add_trace(trace, row=1, col=1)
    height = 150 + rows * SCATTER_ROW_PX + (rows - 1) * SCATTER_GAP_PX
    layout.themed(fig, height=height, title=title)
    fig.update_layout(legend=layout.LEGEND_BELOW, margin={"b": 90})
    return fig


def direction_points(
    dirset: DirectionSet,
    panels: Sequence[Sequence[str]],
    method: str = "pca",
    seed: int = 0,
    kind: str = "u_tilde",
    tasks: Sequence[str] | None = None,
    **projection_kw: Any,
) -> pd.DataFrame:
    """2-D points for each panel (a list of editors), projecting the union of each panel in one fit.

    ``tasks`` keeps only those tasks (e.g. the paper's Fig. 2a shows Recent, CounterFact, zsRE).
    """
    frames = []
    for i, editors in enumerate(panels):
        part = dirset.subset(editor=list(editors), kind=kind, task=None if tasks is None else list(tasks))
        if len(part) == 0:
            logger.warning("panel %d (%s): no %s vectors", i, ", ".join(editors), kind)
            continue
        xy = project(part.vectors, method=method, seed=seed, **projection_kw)
        frames.append(part.meta.assign(x=xy[:, 0], y=xy[:, 1], panel=i))
    if not frames:
        return pd.DataFrame(columns=["x", "y", "editor", "task", "panel"])
    return pd.concat(frames, ignore_index=True)


def direction_panels(
    dirset: DirectionSet,
    panels: Sequence[Sequence[str]],
    method: str = "pca",
    seed: int = 0,
    kind: str = "u_tilde",
    title: str = "",
    panel_titles: Sequence[str] | None = None,
    tasks: Sequence[str] | None = None,
    **projection_kw: Any,
) -> go.Figure:
    """Figure with one scatter subplot per panel; ``panels`` lists the editors of each panel.

    Used for Fig. 2a (e.g. ``[["InstructEdit", "MEND (multi-task)"], ["MEND (multi-task)", "MEND (single-task)"]]``),
    2b (task scaling) and 2d (ConvSent / balanced ConvSent). ``tasks`` restricts the tasks
    shown; extra keyword arguments go to :func:`analysis.projection.project`.
    """
    points = direction_points(dirset, panels, method=method, seed=seed, kind=kind, tasks=tasks, **projection_kw)
    present = sorted(points["panel"].unique()) if len(points) else []
    default_titles = [" vs ".join(editors) for editors in panels]
    titles = [(list(panel_titles) if panel_titles is not None else default_titles)[i] for i in present]
    if not present:
        points = pd.DataFrame({"x": [], "y": [], "editor": [], "task": []})
        titles = None
    return fig_directions(points, title=title, axis_titles=AXIS_LABELS.get(method, ("1", "2")), panel_titles=titles)


def _metric_order(values: pd.Series) -> list[str]:
    """The paper's order, each token metric followed by its generation counterparts (`sources.LABEL_ORDER`)."""
    return style.ordered(values, sources.LABEL_ORDER)


def _percent_range(values: pd.Series) -> list[float] | None:
    """[0, 100] (with headroom for error bars) when every value looks like a percentage."""
    finite = values.dropna()
    if len(finite) and finite.min() >= 0 and finite.max() <= 100:
        return [0, 105]
    return None


def _scaling_traces(df: pd.DataFrame, metric: str, legend: str, reference: bool) -> list[go.Scatter]:
    traces = []
    for task in style.ordered(df["task"], DIRECTION_TASK_ORDER):
        part = df[(df["metric"] == metric) & (df["task"] == task)].sort_values("n_tasks")
        if part.empty:
            continue
        name = f"{task} (paper, approx.)" if reference else task
        line = {"color": style.task_colour(task), "width": 2, "dash": "dot" if reference else "solid"}
        traces.append(go.Scatter(x=part["n_tasks"], y=part["value"], mode="lines+markers", name=name, line=line,
                                 opacity=style.PAPER_OPACITY if reference else 1.0, legend=legend,
                                 error_y=None if reference else _error_bars(part),
                                 meta={"task": task, "metric": metric, "reference": reference}))
    return traces


def fig_task_scaling(
    df: pd.DataFrame,
    title: str = "Task Scaling",
    tick_labels: dict[int, str] | None = None,
    reference_df: pd.DataFrame | None = None,
) -> go.Figure:
    """Fig. 2c: metric vs number of training tasks, one subplot per metric, one line per test task.

    ``df`` has columns ``n_tasks, task, metric, value`` (optional ``ci_low, ci_high`` give
    error bars). ``reference_df`` (same columns, e.g. :func:`paper_numbers.figure2c_zsre_approx`)
    is drawn dotted and faded. ``tick_labels`` names the x positions (e.g. ``{2: "+CounterFact"}``).
    """
    _require(df, ("n_tasks", "task", "metric", "value"), "fig_task_scaling")
    metrics = _metric_order(df["metric"])
    fig = make_subplots(rows=max(1, len(metrics)), cols=1, shared_xaxes=True, vertical_spacing=0.1,
                        subplot_titles=metrics or None)
    all_n = df["n_tasks"] if reference_df is None else pd.concat([df["n_tasks"], reference_df["n_tasks"]])
    ticks = sorted(all_n.unique())
    for i, metric in enumerate(metrics):
        traces = _scaling_traces(df, metric, _legend_key(i), reference=False)
        if reference_df is not None:
            traces += _scaling_traces(reference_df, metric, _legend_key(i), reference=True)
        for trace in traces:
            fig.add_trace(trace, row=i + 1, col=1)
        fig.update_yaxes(title_text=f"{metric} (%)", range=_percent_range(df.loc[df["metric"] == metric, "value"]),
                         showgrid=True, row=i + 1, col=1)
        domain = fig.layout[f"yaxis{'' if i == 0 else i + 1}"].domain
        fig.layout[_legend_key(i)] = {"x": 1.02, "y": domain[1], "yanchor": "top", "xanchor": "left"}
    tick_text = [tick_labels.get(int(t), str(t)) if tick_labels else str(t) for t in ticks]
    layout.themed(fig, height=320 * max(1, len(metrics)) + 80, title=title)
    fig.update_xaxes(tickmode="array", tickvals=ticks, ticktext=tick_text, showgrid=True)
    fig.update_xaxes(title_text="# training tasks", row=max(1, len(metrics)), col=1)
    fig.update_layout(margin={"r": 160})
    return fig


BAR_PX, BAR_GAP_PX = 84, 90          # px per metric in a Fig. 3 panel; between rows of panels
TICK_CHARS = 14                      # a Fig. 3 metric label line ("Reliability<br>(generation)"), narrow on a phone
TABLE_FILLS = {"label": "rgba(128,128,128,0.08)", "paper": "rgba(91,91,240,0.10)", "ours": "rgba(63,155,63,0.14)"}
TABLE_HEADER_FILL = "rgba(128,128,128,0.22)"
TABLE_ROW_PX = 28
TABLE_DRAWN_PX = 30                  # a row as Chromium draws it at 1400 px (bold text: 2 px over the 28 asked)


def _bar_trace(part: pd.DataFrame, name: str, colour: str, paper: bool, show: bool) -> go.Bar:
    """Ours: labels inside the bar where they fit; the paper's (faded, hatched): labels after the bar."""
    pattern = {"shape": style.PAPER_PATTERN} if paper else None
    return go.Bar(y=part["metric"], x=part["value"], orientation="h", name=name, legendgroup=name, showlegend=show,
                  marker={"color": colour, "opacity": style.PAPER_OPACITY if paper else 1.0, "pattern": pattern},
                  text=[f"{v:.1f}" for v in part["value"]], textposition="outside" if paper else "auto",
                  insidetextanchor="middle", insidetextfont={"color": "white", "size": 11},
                  outsidetextfont={"color": layout.FONT_COLOUR, "size": 11}, cliponaxis=False,
                  error_x=None if paper else _error_bars(part), meta={"paper": paper})


def _bar_range(values: pd.Series) -> list[float] | None:
    """[0, 120] for percentages: room for the labels after the bars."""
    return None if _percent_range(values) is None else [0, 120]


def fig_seen_unseen(
    df: pd.DataFrame, paper_df: pd.DataFrame | None = None, title: str = "Seen vs unseen instructions",
    note: str = "",
) -> go.Figure:
    """Fig. 3: horizontal grouped bars, seen vs unseen instruction, one subplot per task (wrapped into rows);
    generation metrics (ours only) are bars of their own right after their token metric.

    ``df`` has columns ``task, metric, instruction ("seen"/"unseen"), value`` (optional
    ``ci_low, ci_high``). ``paper_df`` (same columns, e.g. :func:`paper_numbers.figure3`) is
    drawn beside ours, hatched and faded, named "Seen (paper)" / "Unseen (paper)". ``note``: a second title line.
    """
    _require(df, ("task", "metric", "instruction", "value"), "fig_seen_unseen")
    tasks = style.ordered(df["task"], SEEN_UNSEEN_TASK_ORDER)
    metrics = _metric_order(df["metric"])
    rows, cols = layout.grid(len(tasks))
    row_px = 40 + BAR_PX * max(1, len(metrics))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=tasks or None, shared_yaxes=True,
                        horizontal_spacing=0.06, vertical_spacing=layout.vertical_spacing(rows, row_px, BAR_GAP_PX))
    series = [(df, False)] + ([(paper_df, True)] if paper_df is not None else [])
    for i, task in enumerate(tasks):
        row, col = layout.cell(i, cols)
        for source, paper in series:
            for instruction, colour in (("seen", style.SEEN_COLOUR), ("unseen", style.UNSEEN_COLOUR)):
                part = source[(source["task"] == task) & (source["instruction"].str.lower() == instruction)]
                part = part[part["metric"].isin(metrics)]
                name = instruction.capitalize() + (" (paper)" if paper else "")
                fig.add_trace(_bar_trace(part, name, colour, paper, show=i == 0), row=row, col=col)
        fig.update_xaxes(title_text="Score (%)", range=_bar_range(df["value"]), row=row, col=col)
    fig.update_yaxes(categoryorder="array", categoryarray=metrics, autorange="reversed", tickmode="array",
                     tickvals=metrics, ticktext=[layout.wrap(m, TICK_CHARS) for m in metrics])
    layout.themed(fig, height=190 + rows * row_px + (rows - 1) * BAR_GAP_PX, title=title, note=note)
    fig.update_layout(barmode="group", bargap=0.25, bargroupgap=0.05, legend=layout.LEGEND_BELOW,
                      margin={"b": 100})
    return fig


def _format_cell(row: pd.Series | None, ours: bool) -> str:
    """The paper's value as printed (2 decimals); ours in bold, 1 decimal (2 for ratios such as fluency vs
    base), with its 95% interval."""
    if row is None or pd.isna(row["value"]):
        return "–"
    if not ours:
        return f"{row['value']:.2f}"
    digits = 2 if row.get("metric") in sources.RATIO_LABELS else 1
    text = f"<b>{row['value']:.{digits}f}</b>"
    if "ci_low" in row.index and "ci_high" in row.index and not pd.isna(row["ci_low"]) and not pd.isna(row["ci_high"]):
        text += f" [{row['ci_low']:.{digits}f}, {row['ci_high']:.{digits}f}]"
    return text


def _table_column(df: pd.DataFrame, editor: str, keys: list[tuple[str, str]], ours: bool) -> list[str]:
    rows = {(r["task"], r["metric"]): r for _, r in df[df["editor"] == editor].iterrows()}
    return [_format_cell(rows.get(key), ours) for key in keys]


def _table_rows(paper: pd.DataFrame, ours: pd.DataFrame) -> list[tuple[str, str]]:
    both = pd.concat([paper[["task", "metric"]], ours[["task", "metric"]]], ignore_index=True)
    keys = []
    for task in style.ordered(both["task"], paper_numbers.TASK_ORDER):
        keys += [(task, m) for m in _metric_order(both.loc[both["task"] == task, "metric"])]
    return keys


def _editor_column(editor: str, paper: pd.DataFrame, ours: pd.DataFrame, keys) -> tuple[str, list[str], str]:
    """(header, cells, fill) of one editor: "paper · ours" where both have it, else the one that does."""
    in_paper, in_ours = (editor in set(f["editor"].astype(str)) for f in (paper, ours))
    if in_paper and in_ours:
        cells = [f"{p} · {o}" for p, o in zip(_table_column(paper, editor, keys, False),
                                               _table_column(ours, editor, keys, True), strict=True)]
        return f"{editor}: paper · ours", cells, TABLE_FILLS["ours"]
    suffix = "paper" if in_paper else "ours"
    return f"{editor} ({suffix})", _table_column(paper if in_paper else ours, editor, keys, in_ours), TABLE_FILLS[suffix]


def fig_table3(
    ours_df: pd.DataFrame | None, paper_df: pd.DataFrame | None = None, title: str = "Table 3 (GPT2-XL in the paper)",
    note: str = "",
) -> go.Figure:
    """Table 3 as a ``go.Table``: one row per (task, metric), one column per editor holding the paper's value
    and ours ("paper · ours [95% CI]"), so that it fits a phone; an editor in one frame only gets its own.
    Generation metrics (ours only: "– · ours") follow their token metric ("Reliability (generation)").

    Both frames are long form with columns ``task, metric, editor, value`` (ours may add
    ``ci_low, ci_high``); ``ours_df=None`` shows the paper's columns only.
    ``paper_df`` defaults to :func:`paper_numbers.table3`. The width follows the box; cells wrap at spaces.
    """
    if ours_df is None:
        ours_df = pd.DataFrame({"task": [], "metric": [], "editor": [], "value": []})
    paper = paper_numbers.table3() if paper_df is None else paper_df
    _require(ours_df, ("task", "metric", "editor", "value"), "fig_table3 (ours)")
    _require(paper, ("task", "metric", "editor", "value"), "fig_table3 (paper)")
    keys = _table_rows(paper, ours_df)
    header, fills = ["Task, metric"], [TABLE_FILLS["label"]]
    columns: list[list[str]] = [[f"{task} {metric}" for task, metric in keys]]
    for editor in style.ordered(list(paper["editor"].astype(str)) + list(ours_df["editor"].astype(str)), ()):
        name, cells, fill = _editor_column(editor, paper, ours_df, keys)
        header.append(name)
        columns.append(cells)
        fills.append(fill)
    lines = {"color": layout.LINE_COLOUR, "width": 1}
    font = {"color": layout.FONT_COLOUR, "size": 12}
    table = go.Table(header={"values": [f"<b>{h}</b>" for h in header], "fill_color": TABLE_HEADER_FILL,
                             "align": "left", "line": lines, "font": font},
                     cells={"values": columns, "fill_color": fills, "align": "left", "height": TABLE_ROW_PX,
                            "line": lines, "font": font},
                     columnwidth=[1.15] + [1.35] * (len(header) - 1))
    fig = go.Figure(table)
    layout.themed(fig, height=130 + TABLE_DRAWN_PX * (len(keys) + 3), title=title, note=note)
    fig.update_layout(margin={"l": 8, "r": 8, "b": 8})
    return fig
