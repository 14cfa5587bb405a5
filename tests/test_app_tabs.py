"""Results and Gradient-directions tab handlers: with assets, without them, with broken ones."""
from __future__ import annotations

import json
from pathlib import Path

import gradio as gr
import pandas as pd
import plotly.graph_objects as go
import pytest

from analysis.export import find_browser
from analysis.figures import is_data
from workbench.ui.directions import DirectionsTab
from analysis.sources import instruction_kind
from workbench.ui.results import ResultsTab


def test_results_beside_the_papers(app_settings):
    status, table3, figure3, table, csv_path, json_path, sequence = ResultsTab(app_settings.results_dir).load()
    assert "Table 3 from `table3.json`" in status and "Figure 3 from `figure3.json`" in status
    header = list(table3.data[0].header.values)
    assert header == ["<b>Task, metric</b>", "<b>MEND (multi-task): paper · ours</b>",
                      "<b>InstructEdit: paper · ours</b>"]
    assert table3.layout.width is None  # follows its box
    names = {trace.name for trace in figure3.data}
    assert {"Seen", "Unseen", "Seen (paper)", "Unseen (paper)"} <= names
    assert "not yet computed" not in figure3.layout.title.text
    assert "no sequence.json" in sequence.layout.title.text and "no sequence.json" in status   # a note, not an error
    csv = pd.read_csv(csv_path)
    assert set(csv["source"]) >= {"paper: Table 3", "paper: Figure 3", "table3.json", "figure3.json"}
    ours = csv[(csv["source"] == "table3.json") & (csv["editor"] == "InstructEdit")]
    assert ours["value"].round(6).eq(80.0).all() and set(ours["figure"]) == {"Table 3"}
    assert len(json.loads(Path(json_path).read_text())) == len(csv) == len(table)


def test_results_missing_show_the_papers_numbers(tmp_path):
    status, table3, figure3, table, csv_path, _, sequence = ResultsTab(tmp_path / "nothing").load()
    assert "not yet computed" in status
    assert isinstance(table3, go.Figure) and "ours not yet computed" in figure3.layout.title.text
    assert isinstance(sequence, go.Figure) and "ours not yet computed" in sequence.layout.title.text
    assert set(table["source"]) == {"paper: Table 3", "paper: Figure 3"}


def test_malformed_results_file_is_skipped_and_named(tmp_path):
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "wrong.json").write_text(json.dumps({"x": {"summary": [1, 2]}}))
    status = ResultsTab(tmp_path).load()[0]
    assert "broken.json" in status and "wrong.json" in status and "not yet computed" in status


def test_provenance_and_sweep_files_are_passed_over_quietly(tmp_path):
    (tmp_path / "provenance.json").write_text(json.dumps({"data": {}, "train_cpu_seconds": {"a": 1.0}}))
    (tmp_path / "sweep.json").write_text(json.dumps([{"variant": "rank-32", "val": {"reliability": 0.8}}]))
    status = ResultsTab(tmp_path).load()[0]
    assert "provenance.json" not in status and "sweep.json" not in status and "not yet computed" in status


def test_instruction_kinds():
    assert [instruction_kind(v) for v in ("seen", "Unseen", "none", "3", "9", "Edit it.")] == [
        "seen", "unseen", "none", "seen", "unseen", "custom"]


ARGS = dict(name="synthetic", editors=["instructedit", "mend-multitask"], tasks=["CounterFact", "Recent", "zsRE"],
            method="pca", layout="separate", kind="u_tilde")


def test_directions_scatter_scores_and_html(app_settings):
    tab = DirectionsTab(app_settings.directions_dir)
    assert "synthetic" in tab.status()
    editors, tasks, kind = tab.options("synthetic")
    assert editors.choices and {c[0] for c in tasks.choices} == {"CounterFact", "Recent", "zsRE"}
    fig, scores, html_path = tab.draw(**ARGS)
    assert sum(map(is_data, fig.data)) == 6 and fig.layout.xaxis2 is not None  # 2 editors x 3 tasks, one panel each
    by_editor = scores.set_index("editor")
    assert by_editor.loc["instructedit", "silhouette"] > by_editor.loc["mend-multitask", "silhouette"]
    assert "plotly" in Path(html_path).read_text()[:100_000].lower()
    together = tab.draw(**{**ARGS, "layout": "together", "method": "tsne"})[0]
    assert sum(map(is_data, together.data)) == 6 and "xaxis2" not in together.layout.to_plotly_json()


@pytest.mark.parametrize("change,message", [
    ({"name": "nope"}, "Direction set: unknown set"),
    ({"editors": []}, "Editors: choose at least one"),
    ({"tasks": []}, "Tasks: choose at least one"),
    ({"method": "lda"}, "Projection"),
    ({"layout": "grid"}, "Layout"),
    ({"editors": ["ghost"]}, "Editors: no u_tilde vectors"),
])
def test_directions_bad_input(app_settings, change, message):
    with pytest.raises(gr.Error) as info:
        DirectionsTab(app_settings.directions_dir).draw(**{**ARGS, **change})
    assert message in info.value.message


def test_directions_missing_folder_says_so(tmp_path):
    tab = DirectionsTab(tmp_path / "none")
    assert "No direction sets yet" in tab.status() and "does not recompute" in tab.status()
    assert tab.refresh()[1].choices == []


@pytest.mark.skipif(find_browser() is None, reason="no Chromium for kaleido")
def test_directions_png(app_settings):
    path = Path(DirectionsTab(app_settings.directions_dir).png(**ARGS))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_directions_umap(app_settings):
    fig, scores, _ = DirectionsTab(app_settings.directions_dir).draw(**{**ARGS, "method": "umap"})
    assert sum(map(is_data, fig.data)) == 6 and "UMAP" in fig.layout.title.text and len(scores) == 2
