"""Paired comparison of a finished search's best instruction with the base catalog's descriptions 0 and 9.

`compare(out_dir)` reads the search's `result.json` (its config: task, trial editor, records, weights, base
catalog), has the trial editor edit every record of a slice with each of three instructions (the best one
found, catalog description 0, which the editor was trained with, and the held-out description 9) and
reports each one's metrics and combined score (`summary.combined`), and, for best − catalog 0 and
best − catalog 9, the difference of the combined scores with a 95% paired bootstrap interval over records
(each resample draws the same records for both instructions of the pair).

Slices: by default the search's own slice (its last `val_records` records; the best was selected on it, so
its lead there is biased upward); with `fresh`, the `fresh_records` records just before that slice (default
twice as many), which the search never saw. The report goes to `comparison.json` or
`comparison-fresh.json` in the search's folder, written atomically.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from instructedit.instructions import CATALOG, UNSEEN_INDEX, Instruction, load_instruction_set
from instructedit.io import atomic_write_json
from workbench.instruction_search.loop import RESULT_FILE, SearchConfig, TrialScorer, source_records
from workbench.instruction_search.summary import METRICS, combined

log = logging.getLogger(__name__)

COMPARISON_FILE, FRESH_COMPARISON_FILE = "comparison.json", "comparison-fresh.json"
BEST = "best"
REFERENCES = {"catalog 0 (seen)": 0, f"catalog {UNSEEN_INDEX} (unseen)": UNSEEN_INDEX}


@dataclass(frozen=True)
class CompareOptions:
    """Which slice, and the bootstrap's resamples and seed."""

    fresh: bool = False
    fresh_records: int | None = None   # default: twice the search's val_records
    resamples: int = 2000
    seed: int = 0

    def __post_init__(self):
        if self.fresh_records is not None and (not isinstance(self.fresh_records, int) or self.fresh_records < 1):
            raise ValueError(f"fresh_records must be an integer >= 1, got {self.fresh_records!r}")
        if not isinstance(self.resamples, int) or self.resamples < 1:
            raise ValueError(f"resamples must be an integer >= 1, got {self.resamples!r}")

    @property
    def file_name(self) -> str:
        return FRESH_COMPARISON_FILE if self.fresh else COMPARISON_FILE


def load_search(out_dir: str | Path) -> tuple[dict, SearchConfig]:
    """The finished search's result and its config (the last invocation's, as result.json records it)."""
    path = Path(out_dir) / RESULT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"out: {out_dir} has no {RESULT_FILE}; pass the folder of a finished search "
                                f"(`instructedit instructions optimize --out {out_dir}` writes it)")
    result = json.loads(path.read_text(encoding="utf-8"))
    if not result.get("best"):
        raise ValueError(f"out: the search in {out_dir} scored no candidate, there is nothing to compare")
    return result, SearchConfig(**{**result["config"], "out_dir": str(out_dir)})


def comparison_slice(config: SearchConfig, options: CompareOptions) -> tuple[list, str]:
    """(records, description): the search's slice, or the fresh records just before it."""
    records, size = source_records(config), config.val_records
    source = f"records of {config.data}" if config.data else "train records"
    if not options.fresh:
        return records[-size:], f"the search's slice: {source} [-{size}:]"
    if len(records) <= size:
        raise ValueError(f"fresh: the {len(records)} {source} are all in the search's slice (val_records {size}); "
                         "compare on the search's slice instead, or give the search more records")
    start = max(0, len(records) - size - (options.fresh_records or 2 * size))
    return records[start:-size], f"{source} [{start - len(records)}:-{size}] (not seen by the search)"


def metric_rows(scorer: TrialScorer, records: list, text: str) -> dict[str, list[float]]:
    """record id -> [reliability, generalization, locality] (NaN where the record has none) for one instruction."""
    from instructedit.evaluation.evaluate import evaluate

    rows = evaluate(scorer.model, scorer.tokenizer, scorer.editor, records, Instruction(text=text),
                    batch_size=scorer.batch_size, generation_metrics=False, progress=False)["records"]
    return {f"{r['task']}/{r['record_id']}": [np.nan if r.get(m) is None else float(r[m]) for m in METRICS]
            for r in rows}


def slice_metrics(matrix: np.ndarray) -> dict[str, float | None]:
    """Each metric's mean over the records that have it (None where none has)."""
    finite = np.isfinite(matrix)
    counts, sums = finite.sum(0), np.where(finite, matrix, 0.0).sum(0)
    return {m: float(s / c) if c else None for m, s, c in zip(METRICS, sums, counts)}


def slice_score(matrix: np.ndarray, weights: tuple[float, float, float]) -> float:
    score = combined(slice_metrics(matrix), weights)
    return float("nan") if score is None else score


def paired_bootstrap(best: np.ndarray, reference: np.ndarray, weights: tuple[float, float, float],
                     resamples: int, rng: np.random.Generator) -> dict:
    """The combined-score difference best − reference and its 95% percentile interval over paired resamples."""
    n = len(best)
    diffs = []
    for _ in range(resamples):
        idx = rng.integers(0, n, n)
        diffs.append(slice_score(best[idx], weights) - slice_score(reference[idx], weights))
    return {"difference": slice_score(best, weights) - slice_score(reference, weights),
            "ci_low": float(np.nanpercentile(diffs, 2.5)), "ci_high": float(np.nanpercentile(diffs, 97.5))}


def _matrices(scorer: TrialScorer, records: list, texts: dict[str, str]) -> dict[str, np.ndarray]:
    """One records × metrics matrix per instruction, over the records every instruction could be scored on."""
    rows = {name: metric_rows(scorer, records, text) for name, text in texts.items()}
    ids = [i for i in rows[BEST] if all(i in r for r in rows.values())]
    if len(ids) < len(records):
        log.warning("%d of %d records could not be scored with every instruction; comparing on %d",
                    len(records) - len(ids), len(records), len(ids))
    if not ids:
        raise ValueError("no record could be scored with all three instructions")
    return {name: np.array([r[i] for i in ids]) for name, r in rows.items()}


def compare(out_dir: str | Path, options: CompareOptions | None = None, scorer: TrialScorer | None = None) -> dict:
    """Compare the search's best instruction with catalog descriptions 0 and 9; writes and returns the report."""
    options = options or CompareOptions()
    result, config = load_search(out_dir)
    base = dict(CATALOG) | (load_instruction_set(config.instruction_set) if config.instruction_set else {})
    texts = {BEST: result["best"]["text"]} | {name: base[config.task][i] for name, i in REFERENCES.items()}
    records, description = comparison_slice(config, options)
    scorer = scorer or TrialScorer.from_config(config)
    log.info("comparing 3 instructions on %d records (%s)", len(records), description)
    matrices = _matrices(scorer, records, texts)
    rng = np.random.default_rng(options.seed)
    report = {
        "task": config.task, "editor": config.editor, "slice": description, "records": len(matrices[BEST]),
        "score": "weighted mean of reliability, generalization, locality; weights "
                 + ", ".join(f"{w:g}" for w in config.weights),
        "resamples": options.resamples, "seed": options.seed,
        "instructions": {name: {"text": texts[name], "score": slice_score(m, config.weights), **slice_metrics(m)}
                         for name, m in matrices.items()},
        "paired_bootstrap_95ci_best_minus": {
            name: paired_bootstrap(matrices[BEST], matrices[name], config.weights, options.resamples, rng)
            for name in REFERENCES},
    }
    atomic_write_json(Path(out_dir) / options.file_name, report)
    log.info("wrote %s", Path(out_dir) / options.file_name)
    return report
