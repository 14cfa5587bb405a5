"""An editor over a test set -> per-record scores and per-task summaries with bootstrap CIs (JSON + markdown)."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..data.records import EditRecord
from ..editor.contract import EditorContract, editor_example, make_edits
from ..io import atomic_write_json, atomic_write_text
from .degeneration import rescore_rows
from .generation import fluency, greedy_continuation, sentiment
from .generation_metrics import GenerationSettings, generation_scores, probes_from_example
from .metrics import score_examples
from .schema import METRICS, shown_cell

log = logging.getLogger(__name__)
# generation locality runs on at most this many probes of each group per record (it is the dear part)
GENERATION_LOCALITY_PER_GROUP = 2


def bootstrap_ci(values: list[float], n_boot: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95% percentile bootstrap interval of the mean over records."""
    data = np.asarray(values, dtype=float)
    if len(data) < 2:
        return (float(data.mean()), float(data.mean())) if len(data) else (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, len(data), size=(n_boot, len(data)))].mean(1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def summarise(records: list[dict]) -> dict:
    summary: dict[str, dict] = {}
    for task in sorted({r["task"] for r in records}):
        rows = [r for r in records if r["task"] == task]
        summary[task] = {"n": len(rows)}
        for metric in METRICS + ("pre_reliability", "pre_gen_reliability", "pre_gen_reliability_plain", "success"):
            values = [float(r[metric]) for r in rows if r.get(metric) is not None]
            if values:
                low, high = bootstrap_ci(values)
                summary[task][metric] = {"mean": float(np.mean(values)), "ci_low": low, "ci_high": high,
                                         "n": len(values)}
    return summary


def rescored(result: dict, targets: dict[tuple[str, str], str]) -> tuple[dict, int]:
    """An evaluation ({instruction, summary, records}) with degeneration re-scored from its stored texts
    (`degeneration.rescore_rows`) and its summary re-made where a flag changed; and how many changed."""
    rows, changed = rescore_rows(result["records"], targets)
    return {**result, "records": rows, "summary": summarise(rows) if changed else result["summary"]}, changed


def _add_generation(model, tokenizer, edit, example, scores: dict) -> None:
    """ConvSent: fluency and lexicon sentiment of the edited model's greedy reply (one edit, B = 1)."""
    prompt = tokenizer.decode([t for t, lab in zip(*example.edit) if lab == -100], skip_special_tokens=True)
    reply = greedy_continuation(model, tokenizer, prompt, edit, max_new_tokens=100)
    scores["fluency"] = fluency(reply)
    sign = 1.0 if example.record.label == "positive" else -1.0
    scores["sentiment_score"] = sign * sentiment(reply)


def _add_generation_metrics(model, tokenizer, edit, chunk: list, scores: list[dict],
                            settings: GenerationSettings) -> None:
    """Generation success, locality, leaks and degeneration of every record of a chunk but ConvSent's (its
    targets are whole replies: its generation is judged by fluency and sentiment), batched."""
    rows = [j for j, ex in enumerate(chunk) if ex.record.task != "convsent"]
    if not rows:
        return
    probes = [probes_from_example(chunk[j], GENERATION_LOCALITY_PER_GROUP) for j in rows]
    for j, values in zip(rows, generation_scores(model, tokenizer, probes, edit, owner=rows, settings=settings)):
        scores[j].update(values)


def _examples(records: list[EditRecord], tokenizer, editor: EditorContract, instruction, catalog) -> list:
    examples = []
    for record in records:
        try:
            examples.append(editor_example(editor, record, tokenizer, instruction, catalog))
        except ValueError as err:
            log.warning("skipped record %s/%s: %s", record.task, record.record_id, err)
    return examples


def evaluate(model, tokenizer, editor: EditorContract, records: list[EditRecord], instruction="seen", *,
             batch_size: int = 8, catalog: dict | None = None, generation: bool | int = False,
             generation_metrics: bool = True, settings: GenerationSettings | None = None,
             progress: bool = True) -> dict:
    """Score every record (each edit from the base weights). `instruction`: seen | unseen | none | index | text,
    as asked for: the editor contract decides what the editor is given (editors trained without instructions
    get none; the result's "instruction" names the setting it ran under).

    Token metrics always; `generation_metrics` adds the greedy-continuation metrics (generation success,
    generation locality per group, leaks, degeneration) beside them. `generation` adds ConvSent fluency and
    sentiment of greedy replies: True for every ConvSent record, an integer for the first that many.
    """
    chosen = editor.instruction_for(instruction)
    examples = _examples(records, tokenizer, editor, chosen, catalog)
    settings = settings or GenerationSettings()
    scores: list[dict] = []
    generated, generation_cap = 0, (len(examples) if generation is True else int(generation))
    for i in tqdm(range(0, len(examples), batch_size), desc="evaluate", disable=not progress):
        chunk = examples[i:i + batch_size]
        edit = make_edits(model, editor, chunk, tokenizer.pad_token_id)
        chunk_scores = score_examples(model, editor, chunk, tokenizer.pad_token_id, edit)
        for s, scale in zip(chunk_scores, edit.meta.get("step_scales", ())):
            s["step_scale"] = scale  # the edit-time step search's choice (step_search.py)
        for s, scale in zip(chunk_scores, edit.meta.get("repair_scales", ())):
            s["repair_scale"] = scale  # the loop repair's scale, 0 where none was added (repair.py)
        for row in edit.meta.get("repair_stopped", ()):
            chunk_scores[row]["repair_stopped"] = True  # repaired towards ending after the target
        if generation_metrics:
            _add_generation_metrics(model, tokenizer, edit, chunk, chunk_scores, settings)
        for row, (example, s) in enumerate(zip(chunk, chunk_scores)):
            if example.record.task == "convsent" and generated < generation_cap:
                _add_generation(model, tokenizer, edit.select(row), example, s)
                generated += 1
        scores += chunk_scores
    asked = instruction if isinstance(instruction, str) else str(instruction)
    return {"instruction": "none" if chosen.is_none else asked,
            "summary": summarise(scores), "records": scores}


def markdown_table(results: dict[str, dict]) -> str:
    """Editors side by side: one row per (task, metric), one column per editor, mean [95% CI] in %."""
    editors = list(results)
    lines = ["| task | metric | " + " | ".join(editors) + " |", "|---|---|" + "---|" * len(editors)]
    tasks = sorted({t for r in results.values() for t in r["summary"]})
    for task in tasks:
        for metric in METRICS:
            cells = []
            for name in editors:
                cell = shown_cell(metric, results[name]["summary"].get(task, {}).get(metric))
                cells.append(str(cell) if cell else "–")
            if any(c != "–" for c in cells):
                lines.append(f"| {task} | {metric} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_results(results: dict[str, dict], out: str | Path) -> tuple[Path, Path]:
    """`<out>.json` (everything, per record) and `<out>.md` (the table)."""
    out = Path(out)
    json_path, md_path = out.with_suffix(".json"), out.with_suffix(".md")
    atomic_write_json(json_path, results)
    atomic_write_text(md_path, markdown_table(results))
    return json_path, md_path
