"""The paper's figures from this project's results and shipped editors (assets/results, assets/directions).

`results_long` turns an experiment's results file into the long frames the figures draw; `ship_directions`
precomputes the direction vectors of the shipped editors (float16, small) so the app draws at once;
`paper_figures` writes Fig. 2a-d, Fig. 3, Table 3 and the sequential-editing curves (issue #14).
"""
from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from analysis import paper_numbers, sources
from analysis.directions import CollectOptions, collect, collect_cached
from analysis.directionset import DirectionSet, concat
from analysis.export import export_figure
from analysis.figures import (
    direction_panels,
    fig_seen_unseen,
    fig_table3,
    fig_task_scaling,
)
from analysis.report import separation_report
from analysis.sequence_figure import sequence_curves
from instructedit.data.tasks import load_split
from instructedit.editor.editor import Editor
from instructedit.evaluation import schema
from instructedit.evaluation.schema import EDITOR_LABELS
from instructedit.io import atomic_write_json

log = logging.getLogger(__name__)
DIRECTION_TASKS = ("recent", "counterfact", "zsre", "convsent")
SINGLE_TASK = {"recent": "mend-single-recent", "counterfact": "mend-single-counterfact", "zsre": "mend-single-zsre"}


def results_long(path: str | Path) -> pd.DataFrame:
    """Columns editor, instruction, task, metric, value, ci_low, ci_high (percent; fluency as is): the paper's
    metrics and, where the file has them, the generation metrics beside them (`sources.REPORTED`)."""
    rows = []
    for key, result in schema.read_results(path).items():
        editor, setting = schema.split_key(key)
        for task, metric, cell in schema.cells(result):
            if metric in sources.REPORTED:
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
    """Table 3, Fig. 3, Fig. 2c (`sources.SOURCES`) and the sequential-editing curves (`sources.SEQUENCE_FILE`),
    each from its one declared file; missing ones are left out."""
    figures = {}
    table3 = sources.select(results_dir, "table3")
    if table3.found:
        figures["table3"] = fig_table3(table3.rows, title="Table 3: paper vs ours",
                                       note="paper: GPT2-XL; ours: SmolLM2-135M" + sources.generation_note(table3.rows))
    fig3 = sources.select(results_dir, "figure3")
    if fig3.found:
        figures["fig3"] = fig_seen_unseen(fig3.rows, paper_numbers.figure3(), title="Figure 3: seen vs unseen",
                                          note="hatched: the paper's (GPT2-XL)" + sources.generation_note(fig3.rows))
    fig2c = sources.select(results_dir, "figure2c")
    if fig2c.found:
        order = {EDITOR_LABELS.get(e, e): i for i, e in enumerate(sources.SOURCES["figure2c"].editors, start=1)}
        df = fig2c.rows.assign(n_tasks=fig2c.rows["editor"].map(order))
        figures["fig2c"] = fig_task_scaling(df.dropna(subset=["n_tasks"]), reference_df=paper_numbers.figure2c_zsre_approx())
    for selection in (table3, fig3, fig2c):
        for note in selection.notes:
            log.info("%s", note)
    sequence, notes = sources.sequence_results(results_dir)
    if sequence:
        figures["sequence"] = sequence_curves(sequence, note=f"ours from {sources.SEQUENCE_FILE}")
    for note in notes:
        log.info("%s; its figure is not written", note)
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
