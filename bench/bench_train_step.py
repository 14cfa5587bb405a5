"""Training step time with and without the trunk cache (same config, same run), at editor ranks 256 and 1920.

The uncached path is the honest straightforward one: the full trunk forward for every step. The reference
implementation's step on this CPU at rank 1920 is 1.18 s (../shared/reference/feasibility.md).
Needs the shared CounterFact data. Prints one JSON object. Run: python bench/bench_train_step.py
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import time

import torch

from instructedit.data.tasks import load_split
from instructedit.models import load_model
from instructedit.training.config import TrainConfig
from instructedit.training.trainer import Trainer

REFERENCE_STEP_S = 1.18


def step_times(model, tokenizer, records, rank: int, cached: bool, batch: int, steps: int,
               mode: str = "instruct") -> list[float]:
    config = TrainConfig(editor=dict(mode=mode, tasks=["counterfact"], rank=rank), edits_per_step=batch,
                         trunk_cache=cached, trunk_store=False, norm_warmup_batches=2, val_records=1, out_dir="/tmp/bench-train-step")
    torch.manual_seed(0)
    trainer = Trainer(config, model, tokenizer, {"counterfact": records})
    trainer.fill_cache()
    trainer.warm_up_norms()
    trainer.step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        trainer.step()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--records", type=int, default=64)
    parser.add_argument("--ranks", default="256,1920")
    parser.add_argument("--batches", default="1,4")
    parser.add_argument("--modes", default="instruct,single-task",
                        help="instruct: inputs carry the instruction (longer); single-task: plain prompts, as the reference")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    model, tokenizer = load_model("smollm2-135m")
    records = load_split("counterfact-rome", "train")[: args.records]
    rows = []
    grid = [(m, r, b) for m in args.modes.split(",") for r in map(int, args.ranks.split(","))
            for b in map(int, args.batches.split(","))]
    for mode, rank, batch in grid:
        cached = statistics.median(step_times(model, tokenizer, records, rank, True, batch, args.steps, mode))
        uncached = statistics.median(step_times(model, tokenizer, records, rank, False, batch, args.steps, mode))
        rows.append({"mode": mode, "rank": rank, "edits_per_step": batch, "cached_ms": round(cached * 1000, 1),
                     "uncached_ms": round(uncached * 1000, 1), "cache_speedup": round(uncached / cached, 2),
                     "ms_per_edit_cached": round(cached * 1000 / batch, 1),
                     "vs_reference_rank1920": round(REFERENCE_STEP_S / cached, 2) if rank == 1920 else None})
    print(json.dumps({"bench": "train_step", "threads": torch.get_num_threads(), "steps": args.steps,
                      "reference_step_s": REFERENCE_STEP_S, "results": rows,
                      "goals": {"cache_speedup": 2.5, "rank1920_step_ms": 240}}))


if __name__ == "__main__":
    main()
