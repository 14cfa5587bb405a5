"""Greedy generation with the KV cache on the default model: the few-rows kernels of
`instructedit.models.small_rows` against plain `F.linear` in every layer, interleaved in one run.

For each batch size (rows generated together) it times `batched_generation.continue_ids` of the same
instruction-wrapped prompts, `--tokens` new tokens, both ways, and one cached decode step (one position per
row) both ways; it checks that both ways generate the same tokens. Prints one JSON object.
Run: python bench/bench_generation.py [--rows 1,2,4,8,16] [--tokens 20] [--runs 5]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import time
from contextlib import contextmanager

import torch
from torch import nn

from instructedit.editor.batched_generation import continue_ids
from instructedit.models import load_model

PROMPT = ("Task: CounterFact\nDescription: Edit the model so that it states the new fact.\n"
          "Input: The Eiffel Tower is located in the city of")


@contextmanager
def plain_linears(model: nn.Module):
    """Every `nn.Linear` of the model through its own `F.linear` forward while inside."""
    saved = {m: vars(m).pop("forward") for m in model.modules() if isinstance(m, nn.Linear) and "forward" in vars(m)}
    try:
        yield
    finally:
        for module, forward in saved.items():
            module.forward = forward


def decode_step(model, rows: int, prompt_ids: list[int]):
    """A function running one cached one-token step for `rows` rows (the cache holds the prompt)."""
    ids = torch.tensor([prompt_ids] * rows)
    with torch.no_grad():
        out = model(ids, use_cache=True)
    cache, token = out.past_key_values, out.logits[:, -1:].argmax(-1)
    length = ids.shape[1]

    def step():
        with torch.no_grad():
            model(token, cache=cache, use_cache=True, cache_position=torch.tensor([length]))
            cache.crop(-1)  # drop the position just added: the next call sees the same cache
    return step


def plain_call(fn, model):
    with plain_linears(model):
        return fn()


def timed_both_ways(fn, model, runs: int) -> tuple[float, float]:
    """Median seconds of `fn` with the few-rows kernels and under plain_linears, interleaved run by run."""
    fn()  # warm-up, both ways (the first packed call packs the weights)
    plain_call(fn, model)
    fast, plain = [], []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        middle = time.perf_counter()
        plain_call(fn, model)
        fast.append(middle - start)
        plain.append(time.perf_counter() - middle)
    return statistics.median(fast), statistics.median(plain)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="1,2,4,8,16")
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    model, tokenizer = load_model("smollm2-135m", quiet=True)  # its linears already take the few-rows kernels
    prompt_ids = list(tokenizer(PROMPT).input_ids)
    pad = tokenizer.pad_token_id
    results = []
    for rows in map(int, args.rows.split(",")):
        generate = lambda: continue_ids(model, [prompt_ids] * rows, pad, args.tokens)  # noqa: E731
        same = generate() == plain_call(generate, model)
        fast, plain = timed_both_ways(generate, model, args.runs)
        step = decode_step(model, rows, prompt_ids)
        step_fast, step_plain = timed_both_ways(step, model, args.runs * 4)
        results.append({"rows": rows, "generation_s": round(fast, 3), "generation_plain_s": round(plain, 3),
                        "generation_speedup": round(plain / fast, 2), "decode_step_ms": round(step_fast * 1e3, 1),
                        "decode_step_plain_ms": round(step_plain * 1e3, 1),
                        "decode_step_speedup": round(step_plain / step_fast, 2), "same_tokens": same})
    print(json.dumps({"bench": "generation", "model": "smollm2-135m", "prompt_tokens": len(prompt_ids),
                      "new_tokens": args.tokens, "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
                      "load_average_1min": round(os.getloadavg()[0], 2), "results": results}))


if __name__ == "__main__":
    main()
