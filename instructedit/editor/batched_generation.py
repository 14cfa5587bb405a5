"""Batched greedy generation with the KV cache, each row under its own edit (or none).

Prompts are tokenised exactly as `generation.greedy_continuation` does (the tokenizer's defaults),
left-padded with an attention mask, and generated with `model.generate(do_sample=False, use_cache=True)`.
Row r runs under row r of `edit.take(owner)`: the hooks add that row's low-rank delta at every step,
the prefill and each cached one-token step alike, so the edit's batch matches the generation batch.
Greedy decoding is causal, so a row generated for more tokens than it asked for is cut to its budget.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import nullcontext

import torch

from ..models import families
from .edit import Edit
from .hooks import active_edit

log = logging.getLogger(__name__)

DEFAULT_MAX_ROWS = 64
BUDGET_RATIO = 0.6  # rows whose token budget is below this share of a group's largest start a new group


def _row_edits(edit: Edit | None, owner: Sequence[int] | None, n_rows: int) -> list[int] | None:
    """The edit row of each prompt row: `owner`, else row i for a batch of n edits, else row 0 for one."""
    if edit is None:
        return None
    if owner is None:
        if edit.batch_size == n_rows:
            return list(range(n_rows))
        if edit.batch_size == 1:
            return [0] * n_rows
        raise ValueError(f"an edit of batch {edit.batch_size} needs `owner` for {n_rows} prompts")
    if len(owner) != n_rows:
        raise ValueError(f"owner has {len(owner)} rows for {n_rows} prompts")
    if any(not 0 <= o < edit.batch_size for o in owner):
        raise ValueError(f"owner rows must lie in [0, {edit.batch_size}); got {sorted(set(owner))}")
    return list(owner)


def _budgets(max_new_tokens: int | Sequence[int], n_rows: int) -> list[int]:
    budgets = [max_new_tokens] * n_rows if isinstance(max_new_tokens, int) else list(max_new_tokens)
    if len(budgets) != n_rows:
        raise ValueError(f"{len(budgets)} token budgets for {n_rows} prompts")
    if any(not isinstance(b, int) or b < 1 for b in budgets):
        raise ValueError(f"max_new_tokens must be positive integers, got {sorted(set(budgets))}")
    return budgets


def _eos_ids(model) -> set[int]:
    """The ids `generate` stops on (the model's generation config), as greedy_continuation sees them."""
    eos = getattr(model.generation_config, "eos_token_id", None)
    if eos is None:
        return set()
    return {int(e) for e in eos} if isinstance(eos, (list, tuple)) else {int(eos)}


def _left_padded(rows: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(ids) for ids in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, ids in enumerate(rows):
        input_ids[i, width - len(ids):] = torch.tensor(ids, dtype=torch.long)
        mask[i, width - len(ids):] = 1
    return input_ids.to(device), mask.to(device)


def _cut(ids: list[int], budget: int, eos: set[int]) -> list[int]:
    """The first `budget` generated ids, up to and including the first eos: what one-row `generate` returns."""
    ids = ids[:budget]
    for i, token in enumerate(ids):
        if token in eos:
            return ids[:i + 1]
    return ids


@torch.no_grad()
def _generate_group(model, prompt_ids: list[list[int]], pad_id: int, edit: Edit | None,
                    edit_rows: list[int] | None, max_new_tokens: int, stack: bool = False) -> list[list[int]]:
    input_ids, mask = _left_padded(prompt_ids, pad_id, families.device_of(model))
    row_edit = edit.take(edit_rows) if edit is not None else None
    with active_edit(model, row_edit, stack=stack) if row_edit is not None else nullcontext():
        out = model.generate(input_ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                             use_cache=True, pad_token_id=pad_id)
    return out[:, input_ids.shape[1]:].tolist()


def _budget_buckets(budgets: list[int]) -> list[list[int]]:
    """Row indices, largest budget first; a budget below BUDGET_RATIO x its bucket's largest starts a new one."""
    buckets: list[list[int]] = []
    for j in sorted(range(len(budgets)), key=lambda j: -budgets[j]):
        if not buckets or budgets[j] < BUDGET_RATIO * budgets[buckets[-1][0]]:
            buckets.append([])
        buckets[-1].append(j)
    return buckets


def _groups(budgets: list[int], lengths: list[int], max_rows: int) -> list[list[int]]:
    """Row indices per generate call: similar budgets together, then by prompt length, <= max_rows each."""
    groups = []
    for bucket in _budget_buckets(budgets):
        bucket = sorted(bucket, key=lambda j: -lengths[j])
        groups += [bucket[i:i + max_rows] for i in range(0, len(bucket), max_rows)]
    return groups


def continue_ids(model, prompt_ids: list[list[int]], pad_id: int, max_new_tokens: int | Sequence[int], *,
                 edit: Edit | None = None, owner: Sequence[int] | None = None, stack: bool = False,
                 max_rows: int = DEFAULT_MAX_ROWS) -> list[list[int]]:
    """The greedy continuation (up to its eos) of each token-id prompt, batched by budget and length: of the
    base model, or row r under edit row owner[r] (`stack`: on top of the edit already active in this
    context). `max_new_tokens`: one budget, or one per prompt."""
    if max_rows < 1:
        raise ValueError(f"max_rows must be >= 1, got {max_rows}")
    eos = _eos_ids(model)
    edit_rows = _row_edits(edit, owner, len(prompt_ids))
    budgets = _budgets(max_new_tokens, len(prompt_ids))
    result: list[list[int]] = [[] for _ in prompt_ids]
    groups = _groups(budgets, [len(ids) for ids in prompt_ids], max_rows)
    for rows in groups:
        generated = _generate_group(model, [prompt_ids[j] for j in rows], pad_id, edit,
                                    None if edit_rows is None else [edit_rows[j] for j in rows],
                                    max(budgets[j] for j in rows), stack)
        for j, ids in zip(rows, generated):
            result[j] = _cut(ids, budgets[j], eos)
    log.debug("generated %d rows in %d calls (edited: %s)", len(prompt_ids), len(groups), edit is not None)
    return result


def generate_ids_batch(model, tokenizer, prompts: Sequence[str], edit: Edit | None = None,
                       owner: Sequence[int] | None = None, max_new_tokens: int | Sequence[int] = 20, *,
                       max_rows: int = DEFAULT_MAX_ROWS) -> list[list[int]]:
    """Greedy continuation ids per prompt (up to its eos, if any); row r edited by edit row owner[r].

    `max_new_tokens`: one budget, or one per prompt. Without `owner`, an edit of batch len(prompts)
    edits row i with edit row i and an edit of batch 1 edits every row.
    """
    if not prompts:
        return []
    prompt_ids = prompt_token_ids(tokenizer, prompts)
    return continue_ids(model, prompt_ids, generation_pad_id(tokenizer), max_new_tokens, edit=edit, owner=owner,
                        max_rows=max_rows)


def prompt_token_ids(tokenizer, prompts: Sequence[str]) -> list[list[int]]:
    """Each prompt's token ids as greedy generation reads them (the tokenizer's defaults); none may be empty."""
    prompt_ids = [list(tokenizer(p).input_ids) for p in prompts]
    empty = [i for i, ids in enumerate(prompt_ids) if not ids]
    if empty:
        raise ValueError(f"prompts {empty} produce no tokens; give non-empty prompts")
    return prompt_ids


def generation_pad_id(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def generate_batch(model, tokenizer, prompts: Sequence[str], edit: Edit | None = None,
                   owner: Sequence[int] | None = None, max_new_tokens: int | Sequence[int] = 20, *,
                   max_rows: int = DEFAULT_MAX_ROWS) -> list[str]:
    """Greedy continuation text per prompt, decoded as `greedy_continuation` decodes it."""
    ids = generate_ids_batch(model, tokenizer, prompts, edit, owner, max_new_tokens, max_rows=max_rows)
    return [tokenizer.decode(row, skip_special_tokens=True) for row in ids]
