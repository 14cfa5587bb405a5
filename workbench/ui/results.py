"""Results tab: our Table 3 / Fig. 3 numbers (assets/results/*.json) beside the paper's, as figures and files.

A results file is `{editor_name: {"instruction", "summary": {task: {metric: {mean, ci_low, ci_high, n}}},
"records"}}` as written by `instructedit.evaluation.evaluate.write_results`. Later files (by modification
time) override earlier ones for the same editor and instruction.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis import figures, paper_numbers
from instructedit.evaluation import schema
from instructedit.instructions import UNSEEN_INDEX
from workbench.ui.errors import ui_errors
from workbench.ui.exports import write_download

log = logging.getLogger(__name__)

EDITOR_DISPLAY = {"instructedit": paper_numbers.EDITOR_INSTRUCTEDIT, "mend-multitask": paper_numbers.EDITOR_MEND_MULTI}
COLUMNS = ["source", "editor", "instruction", "task", "metric", "value", "ci_low", "ci_high", "n"]


@dataclass
class Results:
    ours: pd.DataFrame
    files: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def instruction_kind(value) -> str:
    """seen | unseen | none | custom, from a results entry's `instruction`."""
    text = str(value).strip().lower()
    if text in ("seen", "unseen", "none"):
        return text
    if text.isdigit():
        return "unseen" if int(text) == UNSEEN_INDEX else "seen"
    return "custom"


def _rows(source: str, editor: str, entry: dict) -> list[dict]:
    kind = instruction_kind(entry.get("instruction", "seen"))
    return [{"source": source, "editor": EDITOR_DISPLAY.get(editor, editor), "instruction": kind,
             "task": schema.task_label(task), "metric": schema.metric_label(metric), "value": cell.mean,
             "ci_low": cell.low, "ci_high": cell.high, "n": cell.n}
            for task, metric, cell in schema.cells(entry)]


def load_results(folder: Path) -> Results:
    """Every experiment results file in `folder` (other JSON files, such as provenance.json, are passed
    over); unreadable or malformed ones are reported in `problems`, not raised."""
    paths = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
    rows, files, problems = [], [], []
    for path in paths:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not schema.is_results(data):
                log.debug("%s: not experiment results, passed over", path.name)
                continue
            new = [row for editor, entry in data.items() for row in _rows(path.name, editor, entry)]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            problems.append(f"{path.name}: not a results file ({err.__class__.__name__}: {err})")
            continue
        rows += new
        files.append(path.name)
    ours = pd.DataFrame(rows, columns=COLUMNS)
    ours = ours.drop_duplicates(subset=["editor", "instruction", "task", "metric"], keep="last").reset_index(drop=True)
    return Results(ours, files, problems)


def table3_ours(ours: pd.DataFrame) -> pd.DataFrame | None:
    """Our Table 3 rows: each editor with its seen instruction (or none, for MEND)."""
    part = ours[ours["instruction"].isin(["seen", "none"])]
    return None if part.empty else part[["task", "metric", "editor", "value", "ci_low", "ci_high"]]


def figure3_ours(ours: pd.DataFrame) -> pd.DataFrame | None:
    """Our Fig. 3 rows: InstructEdit with the seen vs the unseen instruction."""
    part = ours[(ours["editor"] == paper_numbers.EDITOR_INSTRUCTEDIT) & ours["instruction"].isin(["seen", "unseen"])]
    part = part[part["metric"].isin(paper_numbers.METRIC_ORDER)]
    return None if part["instruction"].nunique() < 2 else part[["task", "metric", "instruction", "value",
                                                                 "ci_low", "ci_high"]]


def combined(results: Results) -> pd.DataFrame:
    """The paper's Table 3 and Fig. 3 and all of ours in one long table (what the downloads hold)."""
    t3 = paper_numbers.table3().assign(source="paper: Table 3", instruction="seen")
    f3 = paper_numbers.figure3().assign(source="paper: Figure 3", editor=paper_numbers.EDITOR_INSTRUCTEDIT)
    frames = [f[COLUMNS[:6]] for f in (t3, f3)] + ([results.ours] if not results.ours.empty else [])
    return pd.concat(frames, ignore_index=True).reindex(columns=COLUMNS)


def figures_for(results: Results):
    """(Table 3 figure, Fig. 3 figure): the paper's numbers beside ours, or the paper's alone."""
    t3 = figures.fig_table3(table3_ours(results.ours))
    f3_ours = figure3_ours(results.ours)
    if f3_ours is None:
        f3 = figures.fig_seen_unseen(paper_numbers.figure3(),
                                     title="Seen vs unseen instructions: the paper's numbers (ours not yet computed)")
    else:
        f3 = figures.fig_seen_unseen(f3_ours, paper_numbers.figure3())
    return t3, f3


def status(results: Results, folder: Path) -> str:
    if results.ours.empty:
        text = (f"**Our numbers are not yet computed** (no results in `{folder}`): the tables show the paper's "
                "numbers (GPT2-XL) only.")
    else:
        text = (f"Ours (SmolLM2-135M unless the file says otherwise) from {', '.join(f'`{f}`' for f in results.files)}, "
                f"beside the paper's (GPT2-XL; {paper_numbers.PAPER_CITATION}).")
    if results.problems:
        text += "  \nSkipped: " + "; ".join(results.problems)
    return text


class ResultsTab:
    """The Results tab's handler, reading the results folder at each call (files may appear while running)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    @ui_errors
    def load(self):
        """(status, Table 3 figure, Fig. 3 figure, long table, CSV path, JSON path)."""
        results = load_results(self.folder)
        t3, f3 = figures_for(results)
        table = combined(results)
        csv_path = write_download("instructedit_results.csv", table.to_csv(index=False))
        json_path = write_download("instructedit_results.json", table.to_json(orient="records", indent=1,
                                                                               force_ascii=False))
        return status(results, self.folder), t3, f3, table, str(csv_path), str(json_path)
