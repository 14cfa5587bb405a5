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

from analysis import paper_numbers, style
from analysis.directionset import DirectionSet
from analysis.projection import AXIS_LABELS, project

logger = logging.getLogger(__name__)

DIRECTION_TASK_ORDER: tuple[str, ...] = ("Recent", "CounterFact", "zsRE", "ConvSent")
SEEN_UNSEEN_TASK_ORDER: tuple[str, ...] = ("Recent", "CounterFact", "zsRE", "ConvSent")
TEMPLATE = "simple_white"
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


def _scatter_traces(points: pd.DataFrame, symbols: dict[str, str], legend: str) -> list[go.Scatter]:
    traces = []
    for editor in style.ordered(points["editor"], ()):
        for task in style.ordered(points.loc[points["editor"] == editor, "task"], DIRECTION_TASK_ORDER):
            part = points[(points["editor"] == editor) & (points["task"] == task)]
            custom, template = _hover(part)
            marker = {"color": style.task_colour(task), "symbol": symbols[editor], "size": 7, "opacity": 0.8,
                      "line": {"width": 0.5, "color": "white"}}
            traces.append(go.Scatter(x=part["x"], y=part["y"], mode="markers", name=f"{task} ({editor})",
                                     marker=marker, legend=legend, customdata=custom, hovertemplate=template,
                                     meta={"editor": editor, "task": task}))
    return traces


def _place_legends(fig: go.Figure, n_panels: int) -> None:
    """One legend under each panel, as in the paper's Figure 2."""
    for i in range(n_panels):
        domain = fig.layout[f"xaxis{'' if i == 0 else i + 1}"].domain
        fig.layout[_legend_key(i)] = {"x": (domain[0] + domain[1]) / 2, "y": -0.12, "xanchor": "center",
                                      "yanchor": "top", "bgcolor": "rgba(0,0,0,0)", "font": {"size": 11}}


def fig_directions(
    points_df: pd.DataFrame,
    title: str = "",
    axis_titles: tuple[str, str] = ("Component 1", "Component 2"),
    panel_titles: Sequence[str] | None = None,
) -> go.Figure:
    """Scatter of 2-D direction points (columns ``x, y, editor, task``), one trace per (editor, task).

    An optional ``panel`` column splits the points into side-by-side subplots, each with
    its own legend; optional ``record_id``/``instruction`` columns feed the hover text.
    """
    _require(points_df, ("x", "y", "editor", "task"), "fig_directions")
    points = points_df.assign(editor=points_df["editor"].astype(str), task=points_df["task"].astype(str))
    panels = list(dict.fromkeys(points["panel"])) if "panel" in points.columns else [None]
    titles = list(panel_titles) if panel_titles is not None else [("" if p is None else str(p)) for p in panels]
    if len(titles) != len(panels):
        raise ValueError(f"{len(panels)} panels but {len(titles)} panel titles")
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=titles, horizontal_spacing=0.06)
    symbols = style.symbol_map(style.ordered(points["editor"], ()))
    for i, panel in enumerate(panels):
        part = points if panel is None else points[points["panel"] == panel]
        for trace in _scatter_traces(part, symbols, _legend_key(i)):
            fig.add_trace(trace, row=1, col=i + 1)
        fig.update_xaxes(title_text=axis_titles[0], showticklabels=False, mirror=True, row=1, col=i + 1)
        fig.update_yaxes(title_text=axis_titles[1], showticklabels=False, mirror=True, row=1, col=i + 1)
    _place_legends(fig, len(panels))
    fig.update_layout(title=title, template=TEMPLATE, width=max(520, 470 * len(panels)), height=560,
                      margin={"l": 50, "r": 20, "t": 80, "b": 150})
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
    return style.ordered(values, paper_numbers.METRIC_ORDER)


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
    fig.update_xaxes(tickmode="array", tickvals=ticks, ticktext=tick_text, showgrid=True, gridcolor="#ddd")
    fig.update_xaxes(title_text="# training tasks", row=max(1, len(metrics)), col=1)
    fig.update_layout(title=title, template=TEMPLATE, width=720, height=320 * max(1, len(metrics)) + 80)
    return fig


def _bar_trace(part: pd.DataFrame, name: str, colour: str, paper: bool, show: bool) -> go.Bar:
    pattern = {"shape": style.PAPER_PATTERN} if paper else None
    return go.Bar(y=part["metric"], x=part["value"], orientation="h", name=name, legendgroup=name, showlegend=show,
                  marker={"color": colour, "opacity": style.PAPER_OPACITY if paper else 1.0, "pattern": pattern},
                  text=[f"{v:.1f}" for v in part["value"]], textposition="inside", insidetextanchor="middle",
                  textfont={"color": "white" if not paper else "black"},
                  error_x=None if paper else _error_bars(part))


def fig_seen_unseen(
    df: pd.DataFrame, paper_df: pd.DataFrame | None = None, title: str = "Seen vs unseen instructions"
) -> go.Figure:
    """Fig. 3: horizontal grouped bars, seen vs unseen instruction, one subplot per task.

    ``df`` has columns ``task, metric, instruction ("seen"/"unseen"), value`` (optional
    ``ci_low, ci_high``). ``paper_df`` (same columns, e.g. :func:`paper_numbers.figure3`) is
    drawn beside ours, hatched and faded, named "Seen (paper)" / "Unseen (paper)".
    """
    _require(df, ("task", "metric", "instruction", "value"), "fig_seen_unseen")
    tasks = style.ordered(df["task"], SEEN_UNSEEN_TASK_ORDER)
    metrics = _metric_order(df["metric"])
    fig = make_subplots(rows=1, cols=max(1, len(tasks)), subplot_titles=tasks or None, shared_yaxes=True,
                        horizontal_spacing=0.04)
    series = [(df, False)] + ([(paper_df, True)] if paper_df is not None else [])
    for col, task in enumerate(tasks, start=1):
        for source, paper in series:
            for instruction, colour in (("seen", style.SEEN_COLOUR), ("unseen", style.UNSEEN_COLOUR)):
                part = source[(source["task"] == task) & (source["instruction"].str.lower() == instruction)]
                part = part[part["metric"].isin(metrics)]
                name = instruction.capitalize() + (" (paper)" if paper else "")
                fig.add_trace(_bar_trace(part, name, colour, paper, show=col == 1), row=1, col=col)
        fig.update_xaxes(title_text="Score (%)", range=_percent_range(df["value"]), row=1, col=col)
    fig.update_yaxes(categoryorder="array", categoryarray=metrics, autorange="reversed")
    fig.update_layout(title=title, template=TEMPLATE, barmode="group", bargap=0.25, bargroupgap=0.05,
                      width=max(560, 480 * len(tasks)), height=160 + 110 * max(1, len(metrics)),
                      legend={"orientation": "h", "x": 0.5, "xanchor": "center", "y": -0.18, "yanchor": "top"})
    return fig


def _format_cell(row: pd.Series | None) -> str:
    if row is None or pd.isna(row["value"]):
        return "–"
    text = f"{row['value']:.2f}"
    if "ci_low" in row.index and "ci_high" in row.index and not pd.isna(row["ci_low"]) and not pd.isna(row["ci_high"]):
        text += f" [{row['ci_low']:.1f}, {row['ci_high']:.1f}]"
    return text


def _table_column(df: pd.DataFrame, editor: str, keys: list[tuple[str, str]]) -> list[str]:
    rows = {(r["task"], r["metric"]): r for _, r in df[df["editor"] == editor].iterrows()}
    return [_format_cell(rows.get(key)) for key in keys]


def fig_table3(
    ours_df: pd.DataFrame | None, paper_df: pd.DataFrame | None = None, title: str = "Table 3 (GPT2-XL in the paper)"
) -> go.Figure:
    """Table 3 as a ``go.Table``: the paper's numbers beside ours, one row per (task, metric).

    Both frames are long form with columns ``task, metric, editor, value`` (ours may add
    ``ci_low, ci_high``); ``ours_df=None`` shows the paper's columns only.
    ``paper_df`` defaults to :func:`paper_numbers.table3`.
    """
    if ours_df is None:
        ours_df = pd.DataFrame({"task": [], "metric": [], "editor": [], "value": []})
    paper = paper_numbers.table3() if paper_df is None else paper_df
    _require(ours_df, ("task", "metric", "editor", "value"), "fig_table3 (ours)")
    _require(paper, ("task", "metric", "editor", "value"), "fig_table3 (paper)")
    both = pd.concat([paper[["task", "metric"]], ours_df[["task", "metric"]]], ignore_index=True)
    tasks = style.ordered(both["task"], paper_numbers.TASK_ORDER)
    keys = []
    for task in tasks:
        metrics = _metric_order(both.loc[both["task"] == task, "metric"])
        keys += [(task, m) for m in metrics]
    header = ["Task", "Metric"]
    columns: list[list[str]] = [[k[0] for k in keys], [k[1] for k in keys]]
    for source, suffix in ((paper, "paper"), (ours_df, "ours")):
        for editor in style.ordered(source["editor"].astype(str), ()):
            header.append(f"{editor} ({suffix})")
            columns.append(_table_column(source, editor, keys))
    n_paper = paper["editor"].nunique()
    fills = ["#f2f2f2", "#f2f2f2"] + ["#e8eefc"] * n_paper + ["#eaf5ea"] * (len(header) - 2 - n_paper)
    table = go.Table(header={"values": [f"<b>{h}</b>" for h in header], "fill_color": "#d9d9d9", "align": "left"},
                     cells={"values": columns, "fill_color": fills, "align": "left", "height": 24})
    widths = [1.0, 1.2] + [1.4] * (len(header) - 2)
    fig = go.Figure(table.update(columnwidth=widths))
    fig.update_layout(title=title, width=max(700, 170 * len(header)), height=110 + 26 * len(keys),
                      margin={"l": 20, "r": 20, "t": 60, "b": 20})
    return fig
