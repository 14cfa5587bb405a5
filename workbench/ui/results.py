"""Results tab: our Table 3 / Fig. 3 numbers (assets/results/*.json) beside the paper's, as figures and files,
and our sequential-editing curves.

Each figure reads its one declared file (`analysis.sources.SOURCES`: Table 3 <- table3.json, Figure 3 <-
figure3.json; the curves <- `sources.SEQUENCE_FILE`, sequence.json), so no number drawn has two sources. The long table and the downloads hold every results file of
the folder (`{editor[ (setting)]: {"instruction", "summary", "records"}}`, see `instructedit.evaluation.schema`),
each row naming its file and the figure it feeds, if any. Missing files and entries are notes, not errors.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis import figures, paper_numbers, sources
from analysis.sequence_figure import sequence_curves
from instructedit.evaluation import schema
from workbench.ui.errors import ui_errors
from workbench.ui.exports import write_download

log = logging.getLogger(__name__)

FIGURES = ("table3", "figure3")          # the experiments this tab draws, each from its SOURCES file
COLUMNS = sources.COLUMNS + ["figure"]
T3_COLUMNS = ["task", "metric", "editor", "value", "ci_low", "ci_high"]
F3_COLUMNS = ["task", "metric", "instruction", "value", "ci_low", "ci_high"]


@dataclass
class Results:
    ours: pd.DataFrame                                   # every results file, long form, with its source
    selections: dict[str, sources.Selection] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    sequence: dict = field(default_factory=dict)          # sequence.json, its own format (`sources.sequence_results`)
    sequence_notes: list[str] = field(default_factory=list)

    @property
    def notes(self) -> list[str]:
        return [note for selection in self.selections.values() for note in selection.notes] + self.sequence_notes


def _file_rows(path: Path) -> list[dict] | None:
    """Every row of one results file; None for other JSON (provenance.json, sweep rows)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not schema.is_results(data):
        log.debug("%s: not experiment results, passed over", path.name)
        return None
    return [row for key, entry in data.items() for row in sources.entry_rows(path.name, key, entry)]


def _mark_figures(ours: pd.DataFrame, selections: dict[str, sources.Selection]) -> pd.DataFrame:
    """Column `figure`: the figure a row feeds (the title of its experiment), empty for the others."""
    fed = {tuple(row): s.source.title for s in selections.values()
           for row in s.rows[["source"] + sources.KEY].itertuples(index=False)}
    keys = ours[["source"] + sources.KEY].itertuples(index=False)
    return ours.assign(figure=[fed.get(tuple(k), "") for k in keys])


def load_results(folder: Path) -> Results:
    """Every experiment results file in `folder` and each figure's selection from its declared file;
    unreadable or malformed files are reported in `problems`, not raised."""
    paths = sorted(folder.glob("*.json")) if folder.is_dir() else []
    rows, files, problems = [], [], []
    for path in paths:
        try:
            new = _file_rows(path)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            problems.append(f"{path.name}: not a results file ({err.__class__.__name__}: {err})")
            continue
        if new is not None:
            rows += new
            files.append(path.name)
    selections = {name: sources.select(folder, name) for name in FIGURES}
    ours = _mark_figures(pd.DataFrame(rows, columns=sources.COLUMNS), selections)
    sequence, sequence_notes = sources.sequence_results(folder)
    return Results(ours, selections, files, problems, sequence, sequence_notes)


def table3_ours(results: Results) -> pd.DataFrame | None:
    """Our Table 3 rows (table3.json only): each editor with its seen instruction (or none, for MEND); token
    metrics and, where the file has them, generation metrics beside them (`sources.REPORTED`)."""
    rows = results.selections["table3"].rows
    return None if rows.empty else rows[T3_COLUMNS]


def figure3_ours(results: Results) -> pd.DataFrame | None:
    """Our Fig. 3 rows (figure3.json only): InstructEdit with the seen vs the unseen instruction, token metrics
    and, where the file has them, their generation counterparts (`sources.FIGURE3_METRICS`)."""
    rows = results.selections["figure3"].rows
    return None if rows["instruction"].nunique() < 2 else rows[F3_COLUMNS]


def figures_for(results: Results):
    """(Table 3 figure, Fig. 3 figure): the paper's numbers beside ours, or the paper's alone with a note."""
    t3_source, f3_source = (results.selections[name].source.file for name in FIGURES)
    t3_ours = table3_ours(results)
    t3_note = (f"paper: GPT2-XL; ours: SmolLM2-135M, from {t3_source}{sources.generation_note(t3_ours)}"
               if t3_ours is not None else f"the paper's numbers; ours not yet computed (no usable {t3_source})")
    t3 = figures.fig_table3(t3_ours, title="Table 3: paper vs ours", note=t3_note)
    f3_ours = figure3_ours(results)
    if f3_ours is None:
        f3 = figures.fig_seen_unseen(paper_numbers.figure3(), title="Figure 3: the paper's numbers",
                                     note=f"ours not yet computed (no seen and unseen entries in {f3_source})")
    else:
        f3 = figures.fig_seen_unseen(f3_ours, paper_numbers.figure3(), title="Figure 3: seen vs unseen instruction",
                                     note=f"ours from {f3_source}; hatched: the paper's (GPT2-XL)"
                                          f"{sources.generation_note(f3_ours)}")
    return t3, f3


def sequence_figure(results: Results):
    """The sequential-editing curves from sequence.json, or empty panels with the note saying why."""
    prefix = f"{sources.SEQUENCE_TITLE}: "
    note = "; ".join(n.removeprefix(prefix) for n in results.sequence_notes) or f"ours from {sources.SEQUENCE_FILE}"
    return sequence_curves(results.sequence, note=note)


def combined(results: Results) -> pd.DataFrame:
    """The paper's Table 3 and Fig. 3 and all of ours in one long table (what the downloads hold)."""
    t3 = paper_numbers.table3().assign(source="paper: Table 3", instruction="seen", figure="Table 3")
    f3 = paper_numbers.figure3().assign(source="paper: Figure 3", editor=paper_numbers.EDITOR_INSTRUCTEDIT,
                                        figure="Figure 3")
    frames = [f.reindex(columns=COLUMNS) for f in (t3, f3)] + ([results.ours] if not results.ours.empty else [])
    return pd.concat(frames, ignore_index=True).reindex(columns=COLUMNS)


def status(results: Results, folder: Path) -> str:
    if results.ours.empty and not results.sequence:
        text = (f"**Our numbers are not yet computed** (no results in `{folder}`): the figures show the paper's "
                "numbers (GPT2-XL) only.")
    else:
        drawn = [f"{s.source.title} from `{s.source.file}`" for s in results.selections.values() if s.found]
        drawn = "; ".join(drawn + ([f"{sources.SEQUENCE_TITLE} from `{sources.SEQUENCE_FILE}`"]
                                   if results.sequence else []))
        text = (f"Ours (SmolLM2-135M unless the file says otherwise) beside the paper's (GPT2-XL; "
                f"{paper_numbers.PAPER_CITATION}). Drawn: {drawn or 'none'}. The long table holds every results "
                f"file: {', '.join(f'`{f}`' for f in results.files) or 'none'}.")
    if results.notes:
        text += "  \nNotes: " + "; ".join(results.notes)
    if results.problems:
        text += "  \nSkipped: " + "; ".join(results.problems)
    return text


class ResultsTab:
    """The Results tab's handler, reading the results folder at each call (files may appear while running)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    @ui_errors
    def load(self):
        """(status, Table 3 figure, Fig. 3 figure, long table, CSV path, JSON path, sequential-editing figure);
        the last one added after the others, so the earlier outputs keep their places."""
        results = load_results(self.folder)
        t3, f3 = figures_for(results)
        table = combined(results)
        csv_path = write_download("instructedit_results.csv", table.to_csv(index=False))
        json_path = write_download("instructedit_results.json", table.to_json(orient="records", indent=1,
                                                                               force_ascii=False))
        return (status(results, self.folder), t3, f3, table, str(csv_path), str(json_path),
                sequence_figure(results))
