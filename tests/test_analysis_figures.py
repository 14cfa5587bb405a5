"""Paper-style figures: expected traces, legend names, axis titles; paper numbers as facts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from analysis import paper_numbers, style
from analysis.figures import (
    direction_panels,
    direction_points,
    fig_directions,
    fig_seen_unseen,
    fig_table3,
    fig_task_scaling,
    is_data,
)
from analysis.projection import project
from analysis.synthetic import synthetic_directionset

TASKS = ("Recent", "CounterFact", "zsRE")
SPREADS = {"InstructEdit": 3.0, "MEND (multi-task)": 0.05, "MEND (single-task)": 3.0}


@pytest.fixture(scope="module")
def dirset():
    return synthetic_directionset(SPREADS, tasks=TASKS, per_group=12, dim=32)


def _names(fig: go.Figure) -> list[str]:
    return [trace.name for trace in fig.data if is_data(trace)]


def _data(fig: go.Figure) -> list:
    return [trace for trace in fig.data if is_data(trace)]


def _legend(fig: go.Figure) -> list[str]:
    return [trace.name for trace in fig.data if trace.showlegend is not False]


def test_fig_directions_single_panel() -> None:
    points = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "y": [0.0, 1.0, 0.0, 1.0],
                           "editor": ["InstructEdit"] * 2 + ["MEND (multi-task)"] * 2,
                           "task": ["Recent", "zsRE", "Recent", "zsRE"]})
    fig = fig_directions(points, title="Fig. 2a", axis_titles=("PC 1", "PC 2"))
    assert _names(fig) == ["Recent (InstructEdit)", "zsRE (InstructEdit)",
                           "Recent (MEND (multi-task))", "zsRE (MEND (multi-task))"]
    assert fig.layout.title.text == "Fig. 2a"
    assert fig.layout.xaxis.title.text == "PC 1" and fig.layout.yaxis.title.text == "PC 2"
    symbols = [t.marker.symbol for t in _data(fig)]
    assert symbols[0] == symbols[1] != symbols[2] == symbols[3]  # editor -> marker
    colours = [t.marker.color for t in _data(fig)]
    assert colours[0] == colours[2] != colours[1] == colours[3]  # task -> colour
    assert colours[0] == style.task_colour("Recent")
    # one compact legend: a key per task (its colour) and per editor (its marker), not one per trace
    assert _legend(fig) == ["Recent", "zsRE", "InstructEdit", "MEND (multi-task)"]
    assert fig.layout.width is None and fig.layout.autosize


def test_fig_directions_requires_columns() -> None:
    with pytest.raises(ValueError, match="missing"):
        fig_directions(pd.DataFrame({"x": [1.0], "y": [1.0], "editor": ["a"]}))


def test_direction_panels_fig2a(dirset) -> None:
    panels = [["InstructEdit", "MEND (multi-task)"], ["MEND (multi-task)", "MEND (single-task)"]]
    fig = direction_panels(dirset, panels, method="pca", seed=0, title="Fig. 2a")
    assert len(_data(fig)) == 12  # 2 panels x 2 editors x 3 tasks
    assert [a.text for a in fig.layout.annotations] == ["InstructEdit vs MEND<br>(multi-task)",
                                                        "MEND (multi-task) vs<br>MEND (single-task)"]
    assert fig.layout.xaxis.title.text == "PC 1" and fig.layout.xaxis2.title.text == "PC 1"
    assert len(_legend(fig)) == 3 + 3  # tasks and editors, one legend for both panels
    assert "zsRE (MEND (single-task))" in _names(fig)
    second = [t for t in _data(fig) if t.xaxis == "x2"]
    assert {t.meta["editor"] for t in second} == {"MEND (multi-task)", "MEND (single-task)"}
    assert len({t.marker.symbol for t in _data(fig)}) == 3


def test_direction_panels_wrap_into_rows_of_two(dirset) -> None:
    fig = direction_panels(dirset, [[e] for e in SPREADS], method="pca")
    assert fig.layout.xaxis3.domain == fig.layout.xaxis.domain  # the third panel starts the second row
    assert fig.layout.yaxis3.domain[1] < fig.layout.yaxis.domain[0]
    assert _legend(fig) == list(TASKS)  # one editor a panel: the panel titles name them


def test_direction_points_fit_each_panel_on_its_union(dirset) -> None:
    points = direction_points(dirset, [["InstructEdit", "MEND (multi-task)"]], method="pca", seed=0)
    union = dirset.subset(editor=["InstructEdit", "MEND (multi-task)"])
    np.testing.assert_allclose(points[["x", "y"]].to_numpy(), project(union.vectors, "pca", seed=0))
    assert set(points["panel"]) == {0}


def test_direction_panels_tsne_axes_and_task_filter(dirset) -> None:
    fig = direction_panels(dirset, [["InstructEdit"]], method="tsne", tasks=["Recent", "zsRE"], panel_titles=["A"])
    assert _names(fig) == ["Recent (InstructEdit)", "zsRE (InstructEdit)"]
    assert fig.layout.xaxis.title.text == "t-SNE 1" and fig.layout.yaxis.title.text == "t-SNE 2"
    assert fig.layout.annotations[0].text == "A"


def test_direction_panels_with_no_data(dirset) -> None:
    fig = direction_panels(dirset, [["nobody"]], method="pca")
    assert len(_data(fig)) == 0


def test_fig_task_scaling_fig2c() -> None:
    rows = [{"n_tasks": n, "task": t, "metric": m, "value": 10.0 * n, "ci_low": 10.0 * n - 2, "ci_high": 10.0 * n + 3}
            for n in (1, 2, 3) for t in TASKS for m in ("Reliability", "Generalization")]
    fig = fig_task_scaling(pd.DataFrame(rows), tick_labels={1: "Recent", 2: "+CF", 3: "+ConvSent"},
                           reference_df=paper_numbers.figure2c_zsre_approx())
    assert len(fig.data) == 8  # 2 metrics x (3 tasks + zsRE paper reference)
    assert {(t.meta["task"], t.meta["metric"]) for t in fig.data if not t.meta["reference"]} == {
        (t, m) for t in TASKS for m in ("Reliability", "Generalization")}
    assert _names(fig)[:4] == ["Recent", "CounterFact", "zsRE", "zsRE (paper, approx.)"]
    assert fig.layout.yaxis.title.text == "Reliability (%)"
    assert fig.layout.yaxis2.title.text == "Generalization (%)"
    assert fig.layout.xaxis2.title.text == "# training tasks"
    assert list(fig.layout.xaxis2.ticktext) == ["Recent", "+CF", "+ConvSent"]
    first = fig.data[0]
    assert list(first.error_y.array) == [3.0, 3.0, 3.0] and list(first.error_y.arrayminus) == [2.0, 2.0, 2.0]
    assert fig.data[3].line.dash == "dot"


def test_fig_seen_unseen_fig3_with_paper_values() -> None:
    ours = paper_numbers.figure3().assign(value=lambda d: d["value"] - 1.0)
    fig = fig_seen_unseen(ours, paper_df=paper_numbers.figure3())
    assert [a.text for a in fig.layout.annotations] == ["Recent", "CounterFact"]
    assert len(fig.data) == 8  # 2 tasks x (seen, unseen) x (ours, paper)
    legend = [t.name for t in fig.data if t.showlegend]
    assert legend == ["Seen", "Unseen", "Seen (paper)", "Unseen (paper)"]
    seen = fig.data[0]
    assert seen.orientation == "h" and list(seen.y) == ["Reliability", "Generalization", "Locality", "Portability"]
    assert list(seen.x) == pytest.approx([84.7, 50.6, 63.6, 46.3])
    assert fig.data[2].marker.pattern.shape == "/"
    assert fig.layout.xaxis.title.text == "Score (%)"
    assert fig.layout.barmode == "group"


def test_fig_seen_unseen_error_bars() -> None:
    df = paper_numbers.figure3().assign(ci_low=lambda d: d["value"] - 1, ci_high=lambda d: d["value"] + 1)
    fig = fig_seen_unseen(df)
    assert len(fig.data) == 4
    assert list(fig.data[0].error_x.array) == pytest.approx([1.0] * 4)


def test_fig_table3_puts_paper_beside_ours() -> None:
    ours = pd.DataFrame([{"task": "zsRE", "metric": "Reliability", "editor": "InstructEdit", "value": 70.0,
                          "ci_low": 65.0, "ci_high": 75.0}])
    fig = fig_table3(ours)
    table = fig.data[0]
    assert isinstance(table, go.Table) and fig.layout.width is None
    assert list(table.header.values) == ["<b>Task, metric</b>", "<b>MEND (multi-task) (paper)</b>",
                                         "<b>InstructEdit: paper · ours</b>"]
    labels, mend, instructedit = (list(c) for c in table.cells.values)
    assert len(labels) == 15 and labels[0] == "CounterFact Reliability" and labels[-1].startswith("zsRE")
    row = labels.index("zsRE Reliability")
    assert (mend[row], instructedit[row]) == ("40.79", "82.83 · <b>70.0</b> [65.0, 75.0]")
    assert instructedit[0] == "80.81 · –"
    assert len(fig_table3(None).data[0].header.values) == 3


def test_paper_numbers_are_the_papers() -> None:
    assert paper_numbers.average_reliability_gain() == pytest.approx(14.86, abs=0.01)
    t3 = paper_numbers.table3_wide().set_index(["task", "metric"])
    assert t3.loc[("CounterFact", "Reliability"), "InstructEdit"] == 80.81
    assert t3.loc[("ConvSent", "Fluency"), "MEND (multi-task)"] == 601.93
    f3 = paper_numbers.figure3()
    assert len(f3) == 16 and set(f3["instruction"]) == {"seen", "unseen"}
    t1 = paper_numbers.table1()
    assert len(t1) == 18
    zsre = t1[(t1["test_task"] == "zsRE") & (t1["trained_on"] == "Recent") & (t1["metric"] == "Generalization")]
    assert zsre["value"].item() == -91.33 and zsre["relative"].item()
    copy = paper_numbers.table3()
    copy.loc[0, "value"] = -1.0  # callers get copies
    assert paper_numbers.table3().loc[0, "value"] == 74.26


def test_symbol_map_keeps_markers_distinct() -> None:
    symbols = style.symbol_map(["InstructEdit", "instructedit", "MEND (multi-task)", "custom", "other"])
    assert symbols["InstructEdit"] == "circle" and symbols["MEND (multi-task)"] == "triangle-down"
    assert len(set(symbols.values())) == 5
    assert style.task_colour("CF") == style.task_colour("CounterFact")
    assert style.task_colour("brand new task") == style.task_colour("brand new task")
