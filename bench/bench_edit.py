"""Edit latency on the default model (CPU), against its floor.

Floor = one forward + backward of the same input with gradients only on the edited weights, measured in
the same run. Prints one JSON object. Run: python bench/bench_edit.py [--runs 20] [--rank 256]
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics

import torch

from instructedit.editor.editor import Editor, EditorConfig
from instructedit.editor.forward import full_logits, per_record_nll
from instructedit.models import load_model
from instructedit.tokenize import encode_batch
from timing import timed

PROMPT = ("Task: CounterFact\nDescription: Replace the fact stated about the subject with the new answer.\n"
          "Input: The Eiffel Tower is located in the city of")



def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rank", type=int, default=256)
    parser.add_argument("--model", default="smollm2-135m")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    model, tokenizer = load_model(args.model)
    batch = encode_batch(tokenizer, [PROMPT], ["Rome"])
    editor = Editor(model, EditorConfig(rank=args.rank)).eval()
    editor.warm_up(model, [batch])

    def edit():
        with torch.no_grad():
            editor.edit(model, batch)

    def floor():
        params = [model.get_parameter(n) for n in editor.weight_names]
        for p in params:
            p.requires_grad_(True)
        try:
            logits, targets, rows = full_logits(model, batch)
            per_record_nll(logits, targets, rows, 1).sum().backward()
        finally:
            for p in params:
                p.requires_grad_(False)
                p.grad = None

    edit_times, floor_times = timed(edit, args.runs), timed(floor, args.runs)
    med_edit, med_floor = statistics.median(edit_times), statistics.median(floor_times)
    print(json.dumps({
        "bench": "edit_latency", "model": args.model, "tokens": int(batch.input_ids.shape[1]), "rank": args.rank,
        "threads": torch.get_num_threads(), "runs": args.runs,
        "edit_median_ms": round(med_edit * 1000, 2), "floor_median_ms": round(med_floor * 1000, 2),
        "ratio_to_floor": round(med_edit / med_floor, 3), "goal_ratio": 1.5,
    }))


if __name__ == "__main__":
    main()
