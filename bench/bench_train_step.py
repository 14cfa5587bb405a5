"""Training step time with and without the trunk cache (same config, same run), at editor ranks 256 and 1920,
and at 1, 4, 16 and 32 edits per step against the floor of a step measured in the same run.

The uncached path is the honest straightforward one: the full trunk forward for every step (measured up to
4 edits per step). The floor is what one training step cannot avoid without the gradient networks: three
passes of the edited top blocks on the cached trunk states (forward + backward of the edit loss to the
edited layers, the pre-edit locality pass, the post-edit pass over the edit, plain and locality inputs with
its backward to the edited weights). The reference implementation's step on this CPU at rank 1920 is 1.18 s
(../shared/reference/feasibility.md). Needs the shared CounterFact data. Prints one JSON object.
Run: python bench/bench_train_step.py [--ranks 1920 --modes single-task --batches 1,4,16,32]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import time

import torch
import torch.nn.functional as F

from instructedit.data.tasks import load_split
from instructedit.editor.forward import predicted_logits, top_hidden
from instructedit.models import load_model
from instructedit.training.config import TrainConfig
from instructedit.tokenize import collate
from instructedit.training.trainer import Trainer

REFERENCE_STEP_S = 1.18
UNCACHED_UP_TO = 4  # edits per step up to which the uncached step is measured too


def _trainer(model, tokenizer, records, rank: int, cached: bool, batch: int, mode: str) -> Trainer:
    config = TrainConfig(editor=dict(mode=mode, tasks=["counterfact"], rank=rank), edits_per_step=batch,
                         trunk_cache=cached, trunk_store=False, norm_warmup_batches=2, val_records=1, out_dir="/tmp/bench-train-step")
    torch.manual_seed(0)
    trainer = Trainer(config, model, tokenizer, {"counterfact": records})
    trainer.fill_cache()
    trainer.warm_up_norms()
    return trainer


def step_times(model, tokenizer, records, rank: int, cached: bool, batch: int, steps: int,
               mode: str = "instruct") -> list[float]:
    trainer = _trainer(model, tokenizer, records, rank, cached, batch, mode)
    trainer.step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        trainer.step()
        times.append(time.perf_counter() - start)
    return times


def floor_pass(trainer: Trainer, step: int) -> None:
    """The three top-block passes of one training step's edits, without the gradient networks."""
    objective, model, editor = trainer.objective, trainer.model, trainer.editor
    pad, start, cache = objective.pad_id, editor.first_block, trainer.cache
    examples = trainer._sample(step)
    editor.capture_grads(model, collate([ex.edit for ex in examples], pad), cache.state([ex.edit[0] for ex in examples]))
    kl_pairs = objective.kl_pairs(examples)[0]
    with torch.no_grad():
        predicted_logits(model, top_hidden(model, cache.state([p[0] for p in kl_pairs]), start), collate(kl_pairs, pad))
    post = [objective.loss_pair(ex) for ex in examples] + objective.plain_pairs(examples)[0] + kl_pairs
    weights = [model.get_parameter(name) for name in editor.weight_names]
    for weight in weights:
        weight.requires_grad_(True)
    try:
        logits, targets, _ = predicted_logits(model, top_hidden(model, cache.state([p[0] for p in post]), start),
                                              collate(post, pad))
        torch.autograd.grad(F.cross_entropy(logits.float(), targets), weights)
    finally:
        for weight in weights:
            weight.requires_grad_(False)


def floor_times(model, tokenizer, records, rank: int, batch: int, steps: int, mode: str) -> list[float]:
    trainer = _trainer(model, tokenizer, records, rank, True, batch, mode)
    floor_pass(trainer, 0)
    times = []
    for step in range(1, steps + 1):
        start = time.perf_counter()
        floor_pass(trainer, step)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--records", type=int, default=64)
    parser.add_argument("--ranks", default="256,1920")
    parser.add_argument("--batches", default="1,4,16,32")
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
        uncached = (statistics.median(step_times(model, tokenizer, records, rank, False, batch, args.steps, mode))
                    if batch <= UNCACHED_UP_TO else None)
        floor = statistics.median(floor_times(model, tokenizer, records, rank, batch, args.steps, mode))
        rows.append({"mode": mode, "rank": rank, "edits_per_step": batch, "cached_ms": round(cached * 1000, 1),
                     "uncached_ms": round(uncached * 1000, 1) if uncached else None,
                     "cache_speedup": round(uncached / cached, 2) if uncached else None,
                     "ms_per_edit_cached": round(cached * 1000 / batch, 1), "edits_per_s": round(batch / cached, 2),
                     "floor_ms": round(floor * 1000, 1), "per_edit_vs_floor": round(cached / floor, 2),
                     "vs_reference_rank1920": round(REFERENCE_STEP_S / cached, 2) if rank == 1920 else None})
    print(json.dumps({"bench": "train_step", "threads": torch.get_num_threads(), "steps": args.steps,
                      "reference_step_s": REFERENCE_STEP_S, "load_average_1min": round(os.getloadavg()[0], 2),
                      "results": rows,
                      "goals": {"cache_speedup": 2.5, "rank1920_step_ms": 240, "per_edit_vs_floor": 1.25,
                                "rank1920_best_edits_per_s": 17}}))


if __name__ == "__main__":
    main()
