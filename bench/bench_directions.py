"""Throughput of collecting editing-gradient directions (analysis.directions.collect), in edits per second.

The shipped `assets/editors/instructedit` on the default model, the first n test records of each task
(default 30 of recent, counterfact, zsre: counterfact and zsRE come from the shared data folder), the
default CollectOptions (ũ and raw u of the last edited up-projection, mean-pooled, batches of 8).
Floor = the same batches through `editor.capture_grads` alone (the forward + backward that every
direction needs), measured in the same run; ratio_to_floor shows what the editor transform and pooling add.
Prints one JSON object.

Run from the repository root:  python bench/bench_directions.py [--n 30] [--runs 3] [--batch-size 8]
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import torch

from analysis.directions import CollectOptions, collect
from instructedit.data.tasks import load_split
from instructedit.editor.editor import Editor
from instructedit.models import load_model
from instructedit.prompts import build_example
from instructedit.tokenize import collate
from timing import median_seconds

ROOT = Path(__file__).resolve().parents[1]
TASKS = ("recent", "counterfact", "zsre")



def _floor(model, tokenizer, editor: Editor, records, options: CollectOptions):
    """capture_grads over the batches `collect` makes (same instruction, same batching)."""
    instruction = editor.instruction_for(options.instruction)
    examples = [build_example(r, tokenizer, instruction) for r in records]
    batches = [collate([ex.edit for ex in examples[i:i + options.batch_size]], tokenizer.pad_token_id)
               for i in range(0, len(examples), options.batch_size)]

    def run():
        for batch in batches:
            editor.capture_grads(model, batch)
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=30, help="records per task")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--editor", default=str(ROOT / "assets" / "editors" / "instructedit"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    model, tokenizer = load_model(args.model)
    editor = Editor.load(args.editor, model).eval()
    records = [r for task in TASKS for r in load_split(task, "test")[:args.n]]
    options = CollectOptions(n=args.n, batch_size=args.batch_size)
    collect_s = median_seconds(lambda: collect(model, tokenizer, editor, records, "bench", options, progress=False),
                             args.runs)
    floor_s = median_seconds(_floor(model, tokenizer, editor, records, options), args.runs)
    print(json.dumps({
        "bench": "direction_collection", "model": args.model, "editor": Path(args.editor).name,
        "tasks": list(TASKS), "records": len(records), "batch_size": args.batch_size, "kinds": list(options.kinds),
        "threads": torch.get_num_threads(), "runs": args.runs,
        "collect_s": round(collect_s, 3), "edits_per_s": round(len(records) / collect_s, 2),
        "floor_s": round(floor_s, 3), "floor_edits_per_s": round(len(records) / floor_s, 2),
        "ratio_to_floor": round(collect_s / floor_s, 3),
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
