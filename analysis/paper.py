"""The paper's figures from this project's results and shipped editors (assets/results, assets/directions).

`results_long` turns an experiment's results file into the long frames the figures draw; `ship_directions`
precomputes the direction vectors of the shipped editors (float16, small) so the app draws at once;
`paper_figures` writes Fig. 2a-d, Fig. 3 and Table 3.
"""
from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from analysis import paper_numbers
from analysis.directions import CollectOptions, collect, collect_cached
from analysis.directionset import DirectionSet, concat
from analysis.export import export_figure
from analysis.report import separation_report
from analysis.figures import direction_panels, fig_seen_unseen, fig_table3, fig_task_scaling
from instructedit.data.tasks import load_split
from instructedit.io import atomic_write_json
from instructedit.editor.editor import Editor
from instructedit.evaluation import schema
from instructedit.evaluation.schema import EDITOR_LABELS

log = logging.getLogger(__name__)
DIRECTION_TASKS = ("recent", "counterfact", "zsre", "convsent")
SINGLE_TASK = {"recent": "mend-single-recent", "counterfact": "mend-single-counterfact", "zsre": "mend-single-zsre"}


def results_long(path: str | Path) -> pd.DataFrame:
    """Columns editor, instruction, task, metric, value, ci_low, ci_high (percent; fluency as is)."""
    rows = []
    for key, result in schema.read_results(path).items():
        editor, setting = schema.split_key(key)
        for task, metric, cell in schema.cells(result):
            if metric in schema.REPORTED:
                rows.append({"editor": EDITOR_LABELS.get(editor, editor), "instruction": setting or
                             result.get("instruction", ""), "task": schema.task_label(task),
                             "metric": schema.metric_label(metric), "value": cell.mean, "ci_low": cell.low,
                             "ci_high": cell.high})
    return pd.DataFrame(rows)


def ship_directions(editors_dir: Path, out: Path, model, tokenizer, n: int = 100,
                    cache_dir: Path | None = None) -> DirectionSet:
    """ũ and raw u of every shipped editor on the first n test records per task, saved float16.

    With `cache_dir`, each editor's vectors are kept there as they are collected: an interrupted run, or
    one after adding an editor, collects only what is missing."""
    records = [r for task in DIRECTION_TASKS for r in load_split(task, "test")[:n]]
    sets = []
    for editor_dir in sorted(p for p in editors_dir.iterdir() if (p / "editor.json").is_file()):
        editor = Editor.load(editor_dir, model)
        if cache_dir is None:
            sets.append(collect(model, tokenizer, editor, records, editor_dir.name, CollectOptions(n=n)))
        else:
            sets.append(collect_cached(cache_dir, editor_dir, model, tokenizer, editor, records, editor_dir.name,
                                       CollectOptions(n=n)))
    dirset = concat(sets)
    dirset.save(out, dtype="float16")
    return dirset


def _single_task_view(dirset: DirectionSet) -> DirectionSet:
    """Each task's points from that task's own single-task MEND editor, labelled as one 'editor'."""
    parts = [dirset.subset(editor=editor, task=task) for task, editor in SINGLE_TASK.items()]
    parts = [p for p in parts if len(p)]
    merged = concat(parts)
    return DirectionSet(merged.vectors, merged.meta.assign(editor="MEND (single-task)"))


def direction_figures(dirset: DirectionSet, method: str = "pca", kind: str = "u_tilde") -> dict:
    labelled = DirectionSet(dirset.vectors, dirset.meta.assign(
        editor=dirset.meta["editor"].map(lambda e: EDITOR_LABELS.get(e, e)),
        task=dirset.meta["task"].map(schema.task_label)))
    single = _single_task_view(dirset)
    single = DirectionSet(single.vectors, single.meta.assign(task=single.meta["task"].map(schema.TASK_LABELS.get)))
    both = concat([labelled, single])
    three = ["Recent", "CounterFact", "zsRE"]
    return {
        "fig2a": direction_panels(both, [["InstructEdit", "MEND (multi-task)"], ["MEND (multi-task)", "MEND (single-task)"]],
                                  method=method, kind=kind, tasks=three, title="Fig. 2a: editing gradient directions"),
        "fig2b": direction_panels(both, [["InstructEdit (Recent)", "InstructEdit"], ["InstructEdit (Recent & CF)", "InstructEdit"]],
                                  method=method, kind=kind, tasks=three, title="Fig. 2b: task scaling"),
        "fig2d": direction_panels(both, [["InstructEdit (Recent)", "InstructEdit (Recent & ConvSent)"]], method=method,
                                  kind=kind, tasks=three, title="Fig. 2d: adding ConvSent"),
    }


def result_figures(results_dir: Path) -> dict:
    figures = {}
    table3 = results_dir / "table3.json"
    if table3.is_file():
        figures["table3"] = fig_table3(results_long(table3), title="Table 3: ours (SmolLM2-135M) beside the paper (GPT2-XL)")
    fig3 = results_dir / "figure3.json"
    if fig3.is_file():
        figures["fig3"] = fig_seen_unseen(results_long(fig3), paper_numbers.figure3())
    fig2c = results_dir / "figure2c.json"
    if fig2c.is_file():
        df = results_long(fig2c)
        order = {"InstructEdit (Recent)": 1, "InstructEdit (Recent & CF)": 2, "InstructEdit": 3}
        df = df[df["metric"].isin(["Reliability", "Generalization"])].assign(n_tasks=df["editor"].map(order))
        figures["fig2c"] = fig_task_scaling(df.dropna(subset=["n_tasks"]), reference_df=paper_numbers.figure2c_zsre_approx())
    return figures


def paper_figures(results_dir: Path, directions: Path | None, out: Path, formats: list[str], method: str = "pca") -> list[Path]:
    """Every figure from the results and the direction vectors; with vectors also `<out>/separation.json`
    (the task-separation scores of every editor, over Recent, CounterFact and zsRE)."""
    figures = result_figures(results_dir)
    written = []
    if directions is not None and directions.is_file():
        dirset = DirectionSet.load(directions)
        figures.update(direction_figures(dirset, method))
        three = dirset.subset(task=["recent", "counterfact", "zsre"])
        atomic_write_json(out / "separation.json", separation_report(three))
        written.append(out / "separation.json")
    for name, fig in figures.items():
        written += export_figure(fig, out, name, formats=formats)
    return written
