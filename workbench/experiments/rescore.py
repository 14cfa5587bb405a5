"""`instructedit rescore`: the committed results files' degeneration re-scored from their stored continuations.

Every scored edit keeps its post-edit and base continuations (`post_text`, `pre_text`), so when the
definition in `instructedit.evaluation.degeneration` changes, the old results follow it without a
model or a new generation: each row's `degenerate` flags are recomputed (`degeneration.rescore_rows`, against
the record's target from the data), the summaries re-made by the code that made them, and the file and its
table written again by the experiment's own writer (then summary.md). Files whose flags do not change are
left as they are.
`--check` writes nothing and fails when a file is out of date.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from instructedit.data.tasks import DATASETS, load_split
from instructedit.evaluation.degeneration import rescore_rows
from instructedit.evaluation.evaluate import rescored, write_results
from instructedit.evaluation.sequential import degeneration_share
from instructedit.paths import ASSETS_DIR

from . import objective_sweep, step_sweep
from .report import write_summary
from .sequences import write_sequence_results
from .suite import EXPERIMENTS, SEQUENCES

log = logging.getLogger(__name__)

Targets = dict[tuple[str, str], str]


def record_targets(tasks: tuple[str, ...]) -> Targets:
    """(task, record_id) -> target over every split of the registered data sets of those names (the suite's
    experiments name their data sets by task)."""
    targets: Targets = {}
    for task in tasks:
        for split in DATASETS[task].splits:
            for record in load_split(task, split):
                targets[(task, record.record_id)] = record.target
    return targets


def rescore_evaluation(results: dict, targets: Targets) -> tuple[dict, int]:
    """An evaluation file ({entry: {instruction, summary, records}}): rows re-scored, summaries re-made."""
    out, changed = {}, 0
    for entry, result in results.items():
        out[entry], n = rescored(result, targets)
        changed += n
    return out, changed


def rescore_sequence(results: dict, targets: Targets) -> tuple[dict, int]:
    """A sequence file ({entry: {task: {checkpoints: [...]}}}): each checkpoint's rows and degenerate share."""
    out, changed = {}, 0
    for entry, tasks in results.items():
        out[entry] = {}
        for task, result in tasks.items():
            points = []
            for point in result["checkpoints"]:
                rows, n = rescore_rows(point["records"], targets)
                summary = dict(point["summary"])
                if n:
                    summary["degenerate"] = degeneration_share(rows)
                points.append({**point, "records": rows, "summary": summary})
                changed += n
            out[entry][task] = {**result, "checkpoints": points}
    return out, changed


@dataclass(frozen=True)
class ResultsKind:
    """How a results file is re-scored and who writes it (json and md) again."""
    rescore: Callable[[dict, Targets], tuple[dict, int]]
    write: Callable[[dict, Path], object]


def _kinds() -> dict[str, ResultsKind]:
    evaluation = ResultsKind(rescore_evaluation, write_results)
    sequence = ResultsKind(rescore_sequence, write_sequence_results)
    return ({name: evaluation for name in EXPERIMENTS} | {name: sequence for name in SEQUENCES}
            | {"objective-sweep": ResultsKind(rescore_evaluation, lambda r, out: objective_sweep.write(r, out.parent)),
               "step-sweep": ResultsKind(rescore_evaluation, lambda r, out: step_sweep.write(r, out.parent))})


RESULTS_KINDS = _kinds()
TASKS = ("counterfact", "recent", "zsre")  # the knowledge tasks whose records have continuations


def rescore(results_dir: Path | None = None, names: list[str] | None = None, check: bool = False) -> dict[str, int]:
    """Re-score the named results files (default: every one present that `RESULTS_KINDS` knows); write those
    whose flags changed, and summary.md after them (not with `check`). Returns {file name: flags changed}."""
    results_dir = results_dir or ASSETS_DIR / "results"
    unknown = sorted(set(names or ()) - set(RESULTS_KINDS))
    if unknown:
        raise ValueError(f"--files: unknown results file(s) {', '.join(unknown)}; expected names from "
                         f"{', '.join(RESULTS_KINDS)}")
    chosen = [n for n in (names or RESULTS_KINDS) if (results_dir / f"{n}.json").is_file()]
    targets = record_targets(TASKS)
    changes = {}
    for name in chosen:
        kind = RESULTS_KINDS[name]
        results, changed = kind.rescore(json.loads((results_dir / f"{name}.json").read_text("utf-8")), targets)
        changes[name] = changed
        if changed and not check:
            kind.write(results, results_dir / name)
            log.info("%s: %d degeneration flags changed, written again", name, changed)
    if any(changes.values()) and not check:
        write_summary(results_dir)
    return changes
