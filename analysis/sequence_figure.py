"""Sequential editing (issue #14): after T edits made one on top of the other, what is left of the first T edits
and of the model's other knowledge; one panel per metric, one line per (editor, task), T on a log axis.

The input is what `sources.sequence_results` reads (editor -> "<task>-<split>" -> checkpoints sorted by T, each
with a summary of shares 0..1 or null); values are drawn in %, a null is a point left out. Editors are told
apart by colour and marker (`style.editor_colours`, `style.symbol_map`), tasks by dash. One compact legend
under the panels: an entry per editor (a click hides its lines in every panel) and one per task (its dash).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis import layout, style
from instructedit.evaluation import schema

log = logging.getLogger(__name__)

METRICS = ("reliability", "gen_reliability", "locality", "gen_locality")
EDITOR_ORDER = ("instructedit", "instructedit+lifelong", "mend-multitask", "mend-multitask+lifelong", "ft-l")
TASK_ORDER = ("zsre", "recent", "counterfact", "convsent")
TASK_DASHES = {"zsre": "solid", "recent": "dash", "counterfact": "dot", "convsent": "dashdot"}
DASH_CYCLE = ("longdash", "longdashdot", "dashdot", "dot", "dash")
TITLE = "Sequential editing: after T edits"
DESCRIPTION = "after edit T, the first T edits re-scored; locality on fixed probes"
ROW_PX, GAP_PX = 280, 100            # px per row of panels; between rows (room for the x-axis title)
LEGEND_LINE_PX = 24                  # px per line of the legend under the panels
Y_RANGE = [-4, 105]                  # %: room for a marker at 0 and at 100
EMPTY_PX = 150                       # the note alone, when there is nothing to draw


@dataclass(frozen=True)
class Curve:
    """One (editor, task) run: per metric, the checkpoints T where it was measured and its values there (%)."""

    entry: str
    task: str
    split: str
    points: dict[str, tuple[list[int], list[float]]]

    @property
    def name(self) -> str:
        split = "" if self.split in ("", "test") else f" ({self.split})"
        return f"{editor_label(self.entry)}, {schema.task_label(self.task)}{split}"


def editor_label(entry: str) -> str:
    """The shown name of an entry: `instructedit+lifelong` -> "InstructEdit + lifelong"."""
    editor, _, variant = entry.partition("+")
    label = schema.EDITOR_LABELS.get(editor, editor)
    return f"{label} + {variant}" if variant else label


def percent(value) -> float | None:
    """A share 0..1 shown in %; None for a null or anything but a finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return 100.0 * value


def _points(checkpoints: list, metric: str) -> tuple[list[int], list[float]]:
    """(T values, %) of the checkpoints where `metric` was measured, in order of T."""
    pairs = []
    for point in checkpoints:
        summary = point.get("summary") if isinstance(point, dict) else None
        shown = percent(summary.get(metric)) if isinstance(summary, dict) else None
        if shown is not None and isinstance(point.get("T"), int):
            pairs.append((point["T"], shown))
    pairs.sort()
    return [t for t, _ in pairs], [v for _, v in pairs]


def curves(results: dict) -> list[Curve]:
    """Every (editor, task) run of the results, editors then tasks in the figures' order."""
    found = []
    for entry in style.ordered(results, EDITOR_ORDER):
        runs = results[entry] if isinstance(results[entry], dict) else {}
        for key in runs:
            run = runs[key] if isinstance(runs[key], dict) else {}
            name, _, split = key.rpartition("-")
            task, split = str(run.get("task") or name or key), str(run.get("split") or split)
            points = {m: _points(run.get("checkpoints") or [], m) for m in METRICS}
            found.append(Curve(entry, task, split, points))
    rank = {t: i for i, t in enumerate(TASK_ORDER)}
    editors = {e: i for i, e in enumerate(dict.fromkeys(c.entry for c in found))}
    return sorted(found, key=lambda c: (editors[c.entry], rank.get(c.task, len(rank)), c.task, c.split))


def task_dashes(tasks) -> dict[str, str]:
    """A dash style per task: the known tasks their own, the others the next of DASH_CYCLE."""
    unknown = [t for t in dict.fromkeys(tasks) if t not in TASK_DASHES]
    return {**TASK_DASHES, **{t: DASH_CYCLE[i % len(DASH_CYCLE)] for i, t in enumerate(unknown)}}


def _trace(curve: Curve, metric: str, colour: str, symbol: str, dash: str) -> go.Scatter:
    xs, ys = curve.points[metric]
    return go.Scatter(x=xs, y=ys, mode="lines+markers", name=curve.name, legendgroup=f"editor:{curve.entry}",
                      showlegend=False, line={"color": colour, "dash": dash, "width": 2},
                      marker={"color": colour, "symbol": symbol, "size": 7},
                      hovertemplate="T = %{x}: %{y:.1f}%<extra>%{fullData.name}</extra>",
                      meta={"editor": curve.entry, "task": curve.task, "split": curve.split, "metric": metric})


def _key_traces(found: list[Curve], colours: dict, symbols: dict, dashes: dict) -> list[go.Scatter]:
    """The compact legend: one entry per editor (colour, marker), one per task (a grey line of its dash)."""
    keys = [go.Scatter(x=[None], y=[None], mode="lines+markers", name=editor_label(entry),
                       legendgroup=f"editor:{entry}", line={"color": colours[entry], "width": 2},
                       marker={"color": colours[entry], "symbol": symbols[entry], "size": 8},
                       meta={"legend_key": "editor"}) for entry in colours]
    for task in dict.fromkeys(c.task for c in found):
        keys.append(go.Scatter(x=[None], y=[None], mode="lines", name=schema.task_label(task),
                               legendgroup=f"task:{task}", line={"color": layout.FONT_COLOUR, "dash": dashes[task],
                                                                 "width": 2}, meta={"legend_key": "task"}))
    return [key.update(showlegend=True, hoverinfo="skip") for key in keys]


def _panels(found: list[Curve]) -> list[str]:
    """The metrics some run measured, in METRICS' order."""
    return [m for m in METRICS if any(c.points[m][0] for c in found)]


def _note_only(title: str, note: str) -> go.Figure:
    """The title and the note saying why there are no curves, no empty frames."""
    fig = go.Figure()
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    layout.themed(fig, height=EMPTY_PX, title=title, note=note)
    fig.update_layout(margin={"b": 10})
    return fig


def _style_axes(fig: go.Figure, metrics: list[str], cols: int, ticks: list[int]) -> None:
    for i in range(len(metrics)):
        row, col = layout.cell(i, cols)
        last = i + cols >= len(metrics)            # no panel below this one
        fig.update_xaxes(type="log", tickmode="array" if ticks else "auto", tickvals=ticks or None,
                         ticktext=[str(t) for t in ticks] or None, showgrid=True, mirror=True,
                         title_text="Edits made (T)" if last else None, row=row, col=col)
        fig.update_yaxes(range=Y_RANGE, showgrid=True, mirror=True, title_text="%" if col == 1 else None,
                         row=row, col=col)


def sequence_curves(results: dict, note: str = "", title: str = TITLE) -> go.Figure:
    """The sequential-editing curves of `results` (see the module); `note` is added to the second title line.
    Empty results, or none measured, give the title and the note alone (default: ours not yet computed)."""
    found = curves(results or {})
    metrics = _panels(found)
    if not metrics:
        return _note_only(title, note or "ours not yet computed")
    rows, cols = layout.grid(len(metrics))
    fig = make_subplots(rows=rows, cols=cols, horizontal_spacing=0.1,
                        subplot_titles=[layout.wrap(schema.metric_label(m), layout.PANEL_TITLE_CHARS) for m in metrics],
                        vertical_spacing=layout.vertical_spacing(rows, ROW_PX, GAP_PX))
    colours = style.editor_colours(c.entry for c in found)
    symbols = style.symbol_map(colours)
    dashes = task_dashes(c.task for c in found)
    for i, metric in enumerate(metrics):
        row, col = layout.cell(i, cols)
        for curve in found:
            if curve.points[metric][0]:
                fig.add_trace(_trace(curve, metric, colours[curve.entry], symbols[curve.entry], dashes[curve.task]),
                              row=row, col=col)
    keys = _key_traces(found, colours, symbols, dashes)
    for key in keys:
        fig.add_trace(key, row=1, col=1)
    ticks = sorted({t for c in found for xs, _ in c.points.values() for t in xs})
    _style_axes(fig, metrics, cols, ticks)
    text = "; ".join(p for p in (DESCRIPTION, note) if p)
    legend_px = LEGEND_LINE_PX * math.ceil(len(keys) / 2)
    layout.themed(fig, height=160 + rows * ROW_PX + (rows - 1) * GAP_PX + legend_px, title=title, note=text)
    fig.update_layout(legend=layout.LEGEND_BELOW, margin={"b": 70 + legend_px})
    return fig
