"""Which results file feeds which figure: one declared file per experiment, so every number drawn has one source.

`SOURCES` maps an experiment (the figure it feeds) to its file in the results folder and the editors (and
instruction settings) taken from it. No figure reads any other file: figure2c.json also holds an `instructedit`
entry, but Table 3's InstructEdit column is table3.json's and nothing else. Files are read through
`schema.read_results`; a missing file, entry or metric is a note on the figure, never an error, so the app
shows whatever results exist while editors are retrained. The sequential-editing curves (issue #14) have a
format of their own (`workbench/experiments/sequences.py`: editor -> task-split -> checkpoints): their one
file is `SEQUENCE_FILE`, read by `sequence_results` with the same rule.

The project reports teacher-forced token metrics (the paper's) and generation metrics side by side: Table 3 and
Fig. 3 take each token metric followed by its generation counterparts (`side_by_side`), wherever a file holds
them; files without generation metrics simply give no such rows. The paper has no generation numbers.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from instructedit.evaluation import schema
from instructedit.instructions import UNSEEN_INDEX

log = logging.getLogger(__name__)

COLUMNS = ["source", "editor", "instruction", "task", "metric", "value", "ci_low", "ci_high", "n"]
KEY = ["editor", "instruction", "task", "metric"]      # one figure cell


@dataclass(frozen=True)
class Source:
    """An experiment's file and what a figure takes from it (schema editor names, in column order; metrics)."""

    title: str
    file: str
    editors: tuple[str, ...]
    settings: tuple[str, ...] = ()     # instruction kinds taken (seen, unseen, none, custom); () = any
    metrics: tuple[str, ...] = schema.REPORTED


def side_by_side(token: tuple[str, ...], generation: tuple[str, ...] = schema.GENERATION_METRICS) -> tuple[str, ...]:
    """Each token metric followed by its generation counterparts (gen_<m>, gen_<m>_<variant>), then the other
    generation metrics (leaks, degeneration, fluency vs base): the order of Table 3's rows and Fig. 3's bars."""
    order: list[str] = []
    for metric in token:
        order += [metric] + [g for g in generation if g == f"gen_{metric}" or g.startswith(f"gen_{metric}_")]
    return tuple(order + [g for g in generation if g not in order])


# Fig. 3's axis is a share: its metrics are the shares, each with its direct generation counterpart
_SHARES = tuple(m for m in schema.REPORTED if m not in schema.UNSCALED)
FIGURE3_METRICS = side_by_side(_SHARES, tuple(f"gen_{m}" for m in _SHARES if f"gen_{m}" in schema.GENERATION_METRICS))
# the paper's metrics, each with its generation counterparts, then the other generation metrics (Table 3's rows)
REPORTED = side_by_side(schema.REPORTED)
# every metric label a figure may show, in the order figures list them
LABEL_ORDER = tuple(schema.metric_label(m) for m in REPORTED)
GENERATION_LABELS = frozenset(schema.metric_label(m) for m in schema.GENERATION_METRICS)
# labels of ratios near 1 (fluency vs base), shown with two decimals
RATIO_LABELS = frozenset(schema.metric_label(m) for m in schema.GENERATION_METRICS if m in schema.UNSCALED)

SOURCES: dict[str, Source] = {
    "table3": Source("Table 3", "table3.json", ("mend-multitask", "instructedit"), ("seen", "none"), REPORTED),
    "figure3": Source("Figure 3", "figure3.json", ("instructedit",), ("seen", "unseen"), FIGURE3_METRICS),
    "figure2c": Source("Figure 2c", "figure2c.json", ("instructedit-recent", "instructedit-recent-cf", "instructedit"),
                       ("seen",), ("reliability", "generalization")),
}

SEQUENCE_TITLE = "Sequential editing"
SEQUENCE_FILE = "sequence.json"        # the sequence experiment on the test splits (not sequence-validation)


@dataclass
class Selection:
    """What one experiment gives its figure: long-form rows (COLUMNS, labels from the schema) and notes."""

    name: str
    source: Source
    rows: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return not self.rows.empty


def instruction_kind(value) -> str:
    """seen | unseen | none | custom, from a results key's setting or an entry's `instruction`."""
    text = str(value).strip().lower()
    if text in ("seen", "unseen", "none"):
        return text
    if text.isdigit():
        return "unseen" if int(text) == UNSEEN_INDEX else "seen"
    return "custom"


def entry_rows(source_file: str, key: str, entry: dict, metrics=None) -> list[dict]:
    """Long-form rows of one results entry (shown scale, schema labels); `metrics` keeps only those."""
    editor, setting = schema.split_key(key)
    kind = instruction_kind(setting or entry.get("instruction", "seen"))
    return [{"source": source_file, "editor": schema.EDITOR_LABELS.get(editor, editor), "instruction": kind,
             "task": schema.task_label(task), "metric": schema.metric_label(metric), "value": cell.mean,
             "ci_low": cell.low, "ci_high": cell.high, "n": cell.n}
            for task, metric, cell in schema.cells(entry) if metrics is None or metric in metrics]


def _taken(source: Source, data: dict) -> tuple[list[str], list[str]]:
    """(keys taken, notes): the declared editors and settings, the first entry of each (editor, setting)."""
    taken, seen, notes = [], set(), []
    for key, entry in data.items():
        editor, setting = schema.split_key(key)
        kind = instruction_kind(setting or entry.get("instruction", "seen"))
        if editor not in source.editors or (source.settings and kind not in source.settings):
            continue
        if (editor, kind) in seen:
            notes.append(f"{source.file}: {key!r} repeats {editor} ({kind}); the first entry is shown")
            continue
        seen.add((editor, kind))
        taken.append(key)
    missing = [e for e in source.editors if e not in {editor for editor, _ in seen}]
    if missing:
        notes.append(f"{source.title}: {source.file} has no {', '.join(missing)}")
    return taken, notes


def select(folder: str | Path, name: str, metrics=None) -> Selection:
    """The rows experiment `name` feeds its figure, from its one declared file in `folder` (its declared
    metrics unless `metrics` says otherwise)."""
    source = SOURCES[name]
    metrics = source.metrics if metrics is None else metrics
    path = Path(folder) / source.file
    empty = pd.DataFrame(columns=COLUMNS)
    if not path.is_file():
        return Selection(name, source, empty, [f"{source.title}: ours not yet computed (no {source.file})"])
    try:
        data = schema.read_results(path)
    except (OSError, ValueError) as err:
        log.warning("%s: %s", path, err)
        return Selection(name, source, empty, [f"{source.title}: {source.file} unreadable ({err.__class__.__name__})"])
    keys, notes = _taken(source, data)
    rows = [row for key in keys for row in entry_rows(source.file, key, data[key], metrics)]
    return Selection(name, source, pd.DataFrame(rows, columns=COLUMNS), notes)


def generation_note(rows: pd.DataFrame | None) -> str:
    """A figure note's clause where its rows hold generation metrics (the paper has none), else ""."""
    if rows is None or not rows["metric"].isin(GENERATION_LABELS).any():
        return ""
    return "; (generation): ours only, from greedy continuations"


def check_one_source(frame: pd.DataFrame) -> None:
    """ValueError unless every figure cell (editor, instruction, task, metric) has one row from one file."""
    counts = frame.groupby(KEY, dropna=False)["source"].agg(["size", "nunique"])
    bad = counts[(counts["size"] > 1) | (counts["nunique"] > 1)]
    if len(bad):
        raise ValueError(f"figure cells fed more than once: {bad.index.tolist()[:5]}")


def is_sequence(data) -> bool:
    """{entry: {task-split: {"checkpoints": [{"T", "summary"}, ...]}}}, as `write_sequence_results` writes."""
    return isinstance(data, dict) and bool(data) and all(
        isinstance(runs, dict) and runs and all(isinstance(run, dict) and isinstance(run.get("checkpoints"), list)
                                                for run in runs.values())
        for runs in data.values())


def sequence_results(folder: str | Path) -> tuple[dict, list[str]]:
    """(the sequence results, notes) from `folder`/SEQUENCE_FILE: ({}, a note) when it is missing or unreadable."""
    path = Path(folder) / SEQUENCE_FILE
    if not path.is_file():
        return {}, [f"{SEQUENCE_TITLE}: ours not yet computed (no {SEQUENCE_FILE})"]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        log.warning("%s: %s", path, err)
        return {}, [f"{SEQUENCE_TITLE}: {SEQUENCE_FILE} unreadable ({err.__class__.__name__})"]
    if not is_sequence(data):
        log.warning("%s: not sequence results", path)
        return {}, [f"{SEQUENCE_TITLE}: {SEQUENCE_FILE} is not sequence results"]
    return data, []
