"""The app's examples, chosen from the real tasks by what the shipped editor's edit makes the model say.

Candidates: the current `assets/examples.json` and the first records of the real tasks' validation splits
(CounterFact, Recent; zsRE records 0-N of its train half, which no instruct editor trains on) — never a
test record. A candidate is kept when, with the seen AND the unseen instruction, `example_holds`: the
greedy answer starts with the target for the instruction-wrapped and the plain prompt, neither loops
(`degenerate`), no locality prompt changes its continuation or leaks the target. ConvSent examples (whole
replies, judged by sentiment, not by these metrics) are kept as they are. `tests/test_slow_examples.py`
re-checks every kept example on the default model.

    python -m workbench.experiments.examples --per-task 3 --candidates 30     # rewrites assets/examples.json
    python -m workbench.experiments.examples --tasks zsre --candidates 60     # only zsRE's examples
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from instructedit.data.records import EditRecord, Probe
from instructedit.data.tasks import load_split
from instructedit.editor.editor import Editor
from instructedit.evaluation.evaluate import evaluate
from instructedit.evaluation.schema import locality_group, task_label
from instructedit.io import atomic_write_json
from instructedit.models import loading
from instructedit.paths import ASSETS_DIR

log = logging.getLogger(__name__)
EXAMPLES_FILE = ASSETS_DIR / "examples.json"
CHECK_FILE = ASSETS_DIR / "results" / "examples-check.json"
SOURCES = (("counterfact", "validation"), ("recent", "validation"), ("zsre", "train"))
INSTRUCTIONS = ("seen", "unseen")
JUDGED_BY_TEXT = frozenset({"counterfact", "recent", "zsre"})  # ConvSent is judged by sentiment instead


def example_record(example: dict) -> EditRecord:
    """An examples.json entry as the record the app edits."""
    return EditRecord(task=example["task"], prompt=example["prompt"], target=example["target"],
                      record_id=example["name"], subject=example.get("subject", ""),
                      rephrases=tuple(example.get("rephrases", ())), topic=example.get("topic", ""),
                      label=example.get("label", ""),
                      locality=tuple(Probe(p["prompt"], p["answer"], kind=p.get("kind", ""))
                                     for p in example.get("locality", ())))


def record_example(record: EditRecord, split: str) -> dict:
    """A data record as an examples.json entry: two paraphrases, the first locality probe of each group."""
    locality, groups = [], set()
    for probe in record.locality:
        group = locality_group(probe.kind) or "unrelated"
        if group not in groups:
            groups.add(group)
            locality.append({"prompt": probe.prompt, "answer": probe.answer, "kind": probe.kind})
    return {"name": f"{task_label(record.task)}: {record.subject or record.prompt[:40]}", "task": record.task,
            "prompt": record.prompt, "target": record.target, "subject": record.subject,
            "rephrases": list(record.rephrases[:2]), "locality": locality, "topic": record.topic,
            "label": record.label, "source": f"{record.task} {split} record {record.record_id} (real data)"}


def example_holds(row: dict) -> bool:
    """One evaluated record: said first (wrapped and plain), no loop, every locality continuation kept."""
    return (row.get("gen_reliability") == 1.0 and row.get("gen_reliability_plain") == 1.0
            and row.get("degenerate") == 0 and row.get("degenerate_plain") == 0
            and row.get("gen_leaks") == 0 and row.get("gen_locality") == 1.0)


def check(model, tokenizer, editor, records: list[EditRecord]) -> dict[str, list[dict]]:
    """instruction -> each record's evaluated row, in order (token and generation metrics, texts)."""
    return {instruction: evaluate(model, tokenizer, editor, records, instruction, progress=False)["records"]
            for instruction in INSTRUCTIONS}


def _candidates(limit: int, tasks: frozenset[str]) -> list[tuple[dict, EditRecord]]:
    current = json.loads(EXAMPLES_FILE.read_text(encoding="utf-8"))
    pairs = [(e, example_record(e)) for e in current if e["task"] in tasks]
    seen = {e["prompt"] for e, _ in pairs}
    for task, split in SOURCES:
        if task not in tasks:
            continue
        for record in load_split(task, split)[:limit]:
            if record.prompt not in seen:
                example = record_example(record, split)
                pairs.append((example, example_record(example)))
    return pairs


def choose(per_task: int, limit: int, tasks: frozenset[str] = JUDGED_BY_TEXT,
           editor_dir: Path = ASSETS_DIR / "editors" / "instructedit") -> list[dict]:
    """The candidates of `tasks` that hold, at most `per_task` each (the current examples first)."""
    model, tokenizer = loading.load_model("smollm2-135m")
    editor = Editor.load(editor_dir, model)
    pairs = _candidates(limit, tasks)
    rows = check(model, tokenizer, editor, [record for _, record in pairs])
    kept, taken = [], {}
    for k, (example, record) in enumerate(pairs):
        holds = all(example_holds(rows[i][k]) for i in INSTRUCTIONS)
        if holds and taken.get(record.task, 0) < per_task:
            taken[record.task] = taken.get(record.task, 0) + 1
            kept.append(example)
    check_file = CHECK_FILE.with_name(f"examples-check-{'-'.join(sorted(tasks))}.json")
    atomic_write_json(check_file, {"editor": str(editor_dir), "candidates": len(pairs),
                                   "kept": [e["name"] for e in kept], "rows": rows})
    log.info("kept %d of %d candidates: %s", len(kept), len(pairs), taken)
    return kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-task", type=int, default=3, help="at most this many examples per task")
    parser.add_argument("--candidates", type=int, default=30, help="validation records tried per task")
    parser.add_argument("--tasks", default=",".join(sorted(JUDGED_BY_TEXT)),
                        help="comma-separated tasks to choose for (the other tasks' examples stay as they are)")
    args = parser.parse_args(argv)
    tasks = frozenset(t.strip() for t in args.tasks.split(","))
    if not tasks <= JUDGED_BY_TEXT:
        parser.error(f"--tasks: choose among {', '.join(sorted(JUDGED_BY_TEXT))} (ConvSent examples are kept as they are)")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    kept = choose(args.per_task, args.candidates, tasks)
    others = [e for e in json.loads(EXAMPLES_FILE.read_text(encoding="utf-8")) if e["task"] not in tasks]
    atomic_write_json(EXAMPLES_FILE, kept + others)
    log.info("wrote %s", EXAMPLES_FILE)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
