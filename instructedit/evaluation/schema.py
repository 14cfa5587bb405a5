"""The results schema: one owner for how results files look, how metrics and tasks are labelled and which
metrics are shares (shown in percent) and which are not.

A results file (written by `evaluate.write_results`, `instructedit eval --out`, `reproduce`) is
`{key: {"instruction": str, "summary": {task: {"n": int, metric: {mean, ci_low, ci_high, n}}}, "records": [...]}}`
where `key` is an editor name, optionally followed by " (setting)" when one experiment runs an editor under
several instruction settings. Every reader (the markdown tables, the README summary, the paper figures, the
app's Results tab) goes through this module.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

# the summary metrics, in table order
TOKEN_METRICS = ("reliability", "generalization", "locality", "portability", "sentiment_success",
                 "fluency", "sentiment_score")
# generation metrics (greedy continuations; see `generation_metrics.py`), reported beside the token ones
GENERATION_METRICS = ("gen_reliability", "gen_reliability_plain", "gen_generalization", "gen_portability",
                      "gen_locality", "gen_leak", "degenerate", "fluency_ratio")
# locality probes by what they ask: another fact of nothing edited, the same relation of another subject,
# another relation of the same subject (KnowEdit Relation_Specificity / Forgetfulness)
LOCALITY_GROUPS = {"unrelated": "unrelated", "neighbour": "neighbour", "Relation_Specificity": "same_subject",
                   "Forgetfulness": "same_subject"}
# per-group metric names: token locality_<group>, generation gen_locality_<group>
GROUPED = tuple(f"{prefix}_{group}" for prefix in ("locality", "gen_locality")
                for group in dict.fromkeys(LOCALITY_GROUPS.values()))
METRICS = TOKEN_METRICS + GENERATION_METRICS + GROUPED
# the metrics the paper's tables report, in their order (README summary, paper figures)
REPORTED = ("reliability", "generalization", "locality", "portability", "sentiment_success", "fluency")
# metrics that are not shares of 0..1: shown as they are, never x100
UNSCALED = frozenset({"fluency", "sentiment_score", "fluency_ratio"})
RATIOS = frozenset({"fluency_ratio"})  # shown with two decimals
METRIC_LABELS = {"reliability": "Reliability", "generalization": "Generalization", "locality": "Locality",
                 "portability": "Portability", "sentiment_success": "Sentiment success", "fluency": "Fluency",
                 "sentiment_score": "Sentiment score", "pre_reliability": "Reliability before the edit",
                 "success": "Success", "gen_reliability": "Reliability (generation)",
                 "gen_reliability_plain": "Reliability (generation, plain prompt)",
                 "gen_generalization": "Generalization (generation)", "gen_portability": "Portability (generation)",
                 "gen_locality": "Locality (generation)", "gen_leak": "Leaks (share of edits)",
                 "degenerate": "Degenerate (share of edits)", "fluency_ratio": "Fluency vs base",
                 "locality_unrelated": "Locality, unrelated", "locality_neighbour": "Locality, neighbours",
                 "locality_same_subject": "Locality, same subject",
                 "gen_locality_unrelated": "Locality (generation), unrelated",
                 "gen_locality_neighbour": "Locality (generation), neighbours",
                 "gen_locality_same_subject": "Locality (generation), same subject"}
# display names of task kinds (the instruction template's own task names live in `instructions.TASK_NAMES`)
TASK_LABELS = {"counterfact": "CounterFact", "recent": "Recent", "convsent": "ConvSent", "zsre": "zsRE"}
EDITOR_LABELS = {"instructedit": "InstructEdit", "mend-multitask": "MEND (multi-task)", "base": "Base (no edit)",
                 "ft-l": "FT-L", "instructedit-recent": "InstructEdit (Recent)",
                 "instructedit-recent-cf": "InstructEdit (Recent & CF)",
                 "instructedit-recent-convsent": "InstructEdit (Recent & ConvSent)"}


def locality_group(kind: str) -> str:
    """The locality group of a probe kind ("" for probes whose source does not say)."""
    return LOCALITY_GROUPS.get(kind, "")


def scale(metric: str) -> float:
    """The factor from a stored value to the shown one (x100 for shares)."""
    return 1.0 if metric in UNSCALED else 100.0


def task_label(task: str) -> str:
    return TASK_LABELS.get(task, task)


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


@dataclass(frozen=True)
class Cell:
    """One summary cell as shown: mean and 95% bootstrap interval (percent for shares), and its count."""

    mean: float
    low: float
    high: float
    n: int | None = None
    digits: int = 1  # ratios near 1 (fluency vs base) get 2

    def __str__(self) -> str:
        d = self.digits
        return f"{self.mean:.{d}f} [{self.low:.{d}f}, {self.high:.{d}f}]"

    def overlaps(self, other: "Cell") -> bool:
        return self.low <= other.high and other.low <= self.high


def shown_cell(metric: str, raw) -> Cell | None:
    """A stored summary cell as shown, or None where the metric was not measured."""
    if not isinstance(raw, dict) or "mean" not in raw:
        return None
    factor = scale(metric)
    return Cell(raw["mean"] * factor, raw.get("ci_low", math.nan) * factor, raw.get("ci_high", math.nan) * factor,
                raw.get("n"), 2 if metric in RATIOS else 1)


def result_cell(results: dict, key: str, task: str, metric: str) -> Cell | None:
    """The shown cell of one results file entry's task summary, or None where it was not measured."""
    return shown_cell(metric, results.get(key, {}).get("summary", {}).get(task, {}).get(metric))


def cells(entry: dict):
    """(task, metric, Cell) for every measured summary cell of one results entry."""
    for task, metrics in entry.get("summary", {}).items():
        for metric, raw in metrics.items():
            shown = shown_cell(metric, raw)
            if shown is not None:
                yield task, metric, shown


def split_key(key: str) -> tuple[str, str]:
    """'instructedit (unseen)' -> ('instructedit', 'unseen'); a bare editor name -> (name, '')."""
    editor, _, setting = key.partition(" (")
    return editor, setting[:-1] if setting.endswith(")") else setting


def is_results(data) -> bool:
    """{key: {"summary": ...}, ...}, as eval / reproduce write; not provenance.json or sweep rows."""
    return isinstance(data, dict) and bool(data) and all(
        isinstance(entry, dict) and "summary" in entry for entry in data.values())


def read_results(path: str | Path) -> dict:
    """A results file, checked against the schema (ValueError naming the file otherwise)."""
    path = Path(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    if not is_results(data):
        raise ValueError(f"{path}: not a results file (expected {{editor: {{instruction, summary, records}}}})")
    return data
