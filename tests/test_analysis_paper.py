import json
import logging
import struct

from app_support import sequence_results

from analysis import layout, sources
from analysis.export import find_browser
from analysis.paper import direction_figures, result_figures, results_long
from analysis.synthetic import synthetic_directionset
from instructedit.evaluation import schema

SUITE = {"instructedit": 3.0, "mend-multitask": 0.5, "mend-single-recent": 2.0, "mend-single-counterfact": 2.0,
         "mend-single-zsre": 2.0, "instructedit-recent": 1.0, "instructedit-recent-cf": 2.0,
         "instructedit-recent-convsent": 1.5}


def _cell(mean):
    return {"mean": mean, "ci_low": mean - 0.05, "ci_high": mean + 0.05, "n": 10}


def _result(rel, instruction="seen"):
    return {"instruction": instruction, "records": [], "summary": {
        task: {"n": 10, "reliability": _cell(rel), "generalization": _cell(rel / 2), "locality": _cell(0.9)}
        for task in ("counterfact", "recent", "zsre")}}


def test_results_long_scales_and_labels(tmp_path):
    path = tmp_path / "figure3.json"
    path.write_text(json.dumps({"instructedit (seen)": _result(0.8), "instructedit (unseen)": _result(0.7, "unseen")}))
    df = results_long(path)
    assert set(df["instruction"]) == {"seen", "unseen"} and set(df["editor"]) == {"InstructEdit"}
    row = df[(df.task == "zsRE") & (df.metric == "Reliability") & (df.instruction == "seen")].iloc[0]
    assert abs(row.value - 80.0) < 1e-9 and abs(row.ci_low - 75.0) < 1e-9


def _with_generation(result, value=0.4):
    for metrics in result["summary"].values():
        metrics |= {m: _cell(1.1 if m in schema.UNSCALED else value) for m in schema.GENERATION_METRICS}
    return result


def _write_table3_and_figure3(folder, generation: bool):
    def maybe(result):
        return _with_generation(result) if generation else result

    (folder / "table3.json").write_text(json.dumps({"mend-multitask": maybe(_result(0.6)),
                                                    "instructedit": maybe(_result(0.8))}))
    (folder / "figure3.json").write_text(json.dumps({"instructedit (seen)": maybe(_result(0.8)),
                                                     "instructedit (unseen)": maybe(_result(0.7, "unseen"))}))


def test_paper_figures_put_generation_metrics_beside_the_token_ones(tmp_path):
    _write_table3_and_figure3(tmp_path, generation=True)
    figures = result_figures(tmp_path)
    labels, _, ours = (list(c) for c in figures["table3"].data[0].cells.values)
    gen = schema.metric_label("gen_reliability")
    row = labels.index("zsRE Reliability")
    assert labels[row + 1] == f"zsRE {gen}" and ours[row + 1] == "– · <b>40.0</b> [35.0, 45.0]"
    assert ours[labels.index(f"zsRE {schema.metric_label('fluency_ratio')}")] == "– · <b>1.10</b> [1.05, 1.15]"
    bars = {label for trace in figures["fig3"].data if not trace.meta["paper"] for label in trace.y}
    assert {schema.metric_label(m) for m in ("gen_reliability", "gen_generalization", "gen_locality")} <= bars
    assert not bars & {schema.metric_label(m) for m in schema.UNSCALED}      # Fig. 3's axis is a share
    paper_bars = {label for trace in figures["fig3"].data if trace.meta["paper"] for label in trace.y}
    assert paper_bars and not paper_bars & sources.GENERATION_LABELS
    df = results_long(tmp_path / "table3.json")
    assert set(df["metric"]) >= {gen, schema.metric_label("gen_leak"), schema.metric_label("degenerate")}


def test_paper_figures_without_generation_metrics_have_none(tmp_path):
    _write_table3_and_figure3(tmp_path, generation=False)
    figures = result_figures(tmp_path)
    labels = list(figures["table3"].data[0].cells.values[0])
    assert labels and not any(label.endswith(tuple(sources.GENERATION_LABELS)) for label in labels)
    assert not {label for trace in figures["fig3"].data for label in trace.y} & sources.GENERATION_LABELS
    assert not set(results_long(tmp_path / "figure3.json")["metric"]) & sources.GENERATION_LABELS


def test_result_figures_from_results_files(tmp_path):
    (tmp_path / "figure3.json").write_text(json.dumps({"instructedit (seen)": _result(0.8),
                                                       "instructedit (unseen)": _result(0.7, "unseen")}))
    (tmp_path / "figure2c.json").write_text(json.dumps({"instructedit-recent": _result(0.2),
                                                        "instructedit-recent-cf": _result(0.5), "instructedit": _result(0.8)}))
    (tmp_path / "table3.json").write_text(json.dumps({"mend-multitask": _result(0.6), "instructedit": _result(0.8)}))
    figures = result_figures(tmp_path)
    assert set(figures) == {"table3", "fig3", "fig2c"}
    names = {trace.name for trace in figures["fig3"].data}
    assert {"Seen", "Unseen"} <= names or any("Seen" in n for n in names)
    header = figures["table3"].data[0].header.values
    assert "<b>InstructEdit: paper · ours</b>" in header  # from table3.json, its one declared source
    assert sorted(figures["fig2c"].data[0].x) == [1, 2, 3]


def test_direction_figures_build_the_paper_panels():
    tasks = ("recent", "counterfact", "zsre", "convsent")
    dirset = synthetic_directionset(SUITE, tasks=tasks, per_group=8, dim=32)
    figures = direction_figures(dirset)
    assert set(figures) == {"fig2a", "fig2b", "fig2d"}
    legend = {trace.name for trace in figures["fig2a"].data}
    assert any("MEND (single-task)" in n for n in legend) and any("InstructEdit" in n for n in legend)
    assert not any("ConvSent" in n for n in legend)  # Fig. 2a shows Recent, CounterFact, zsRE


def test_paper_figures_write_figures_and_separation_scores(tmp_path):
    from analysis.paper import paper_figures

    tasks = ("recent", "counterfact", "zsre", "convsent")
    dirset = synthetic_directionset(SUITE, tasks=tasks, per_group=8, dim=32)
    dirset.save(tmp_path / "dirs.safetensors")
    (tmp_path / "results").mkdir()
    written = paper_figures(tmp_path / "results", tmp_path / "dirs.safetensors", tmp_path / "out", ["html"])
    assert {p.name for p in written} >= {"fig2a.html", "fig2b.html", "fig2d.html", "separation.json"}
    report = json.loads((tmp_path / "out" / "separation.json").read_text())
    rows = {row["editor"]: row for row in report["u_tilde"]}
    assert set(rows) == set(SUITE)  # every editor scored, on Recent, CounterFact and zsRE
    assert rows["instructedit"]["silhouette"] > rows["mend-multitask"]["silhouette"] and rows["instructedit"]["n"] == 24


def test_paper_figures_write_the_sequence_curves_from_sequence_json(tmp_path, caplog):
    from analysis.paper import paper_figures

    (tmp_path / "results").mkdir()
    with caplog.at_level(logging.INFO, logger="analysis.paper"):
        assert "sequence" not in result_figures(tmp_path / "results")      # no sequence.json: left out, noted
    assert "no sequence.json" in caplog.text
    (tmp_path / "results" / sources.SEQUENCE_FILE).write_text(json.dumps(sequence_results()))
    formats = ["html"] + (["png"] if find_browser() else [])      # as `instructedit figures` writes them
    written = paper_figures(tmp_path / "results", None, tmp_path / "out", formats)
    assert [p.name for p in written] == [f"sequence.{f}" for f in formats]
    assert "Sequential editing" in (tmp_path / "out" / "sequence.html").read_text()
    if "png" in formats:
        data = (tmp_path / "out" / "sequence.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">I", data[16:20])[0] == 2 * layout.EXPORT_WIDTH
