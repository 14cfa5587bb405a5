"""Loop repair at edit time: a second MEND pass that teaches the edited model to go on, after the target, the
way the base model goes on.

Some edits make the target the greedy answer at every step the search tries, but then loop: "Harvard
University. Harvard University. Harvard University." (most of them on the held-out zsRE questions). After
the target the hidden state looks like the one that asked for it, so the edit asks for the target again. For
such an edit (the step search held it but found no clean scale, `step_search.py`) the editor can correct
itself with the data it has:

  1. the base model continues prompt + target greedily for `tokens` tokens ("\\nOutput: ...");
  2. under the edit, the loss of those continuation tokens is taken through the edited top blocks, and its
     layer inputs u and output gradients δ go through the editor's own gradient networks (the same
     transform as the edit's): a second pseudo-gradient, the *repair*;
  3. the repair is added to the edit at the smallest of `scales` under which the target is still greedy
     (teacher-forced) and the edited model's greedy continuation of prompt + target no longer loops
     (`step_search.loops`); where no scale does, the edit stays as it was.

Only the request is read (and the base model's own words after it), so an edit in the app and an evaluated
edit are repaired alike. Cost, per edit that needs it: one `tokens`-token continuation of the base model, one
forward and backward pass of the edited top blocks, then per scale one pass of those blocks and one short
continuation.
"""
from __future__ import annotations

import torch
from torch import nn

from ..models import families
from ..tokenize import IGNORE, Batch, collate
from .batched_generation import continue_ids
from .edit import Edit, EditFactor
from .forward import trunk
from .hooks import active_edit
from .step_search import CHECK_TOKENS, loops, request_ids, targets_held

DEFAULT_SCALES = (0.5, 1.0, 2.0, 4.0)


def validate_repair(tokens: int, scales) -> tuple[float, ...]:
    """`scales` as an ascending tuple of positive floats; a clear error for a bad setting."""
    if tokens < 0:
        raise ValueError(f"repair_tokens must be >= 0 (0: no loop repair), got {tokens}")
    scales = tuple(float(s) for s in (scales or ()))
    if tokens and not scales:
        raise ValueError("repair_scales must not be empty when repair_tokens > 0")
    if any(s <= 0 for s in scales) or list(scales) != sorted(set(scales)):
        raise ValueError(f"repair_scales must be positive and strictly ascending, got {list(scales)}")
    return scales


def with_rows(edit: Edit, extra: Edit, rows: list[int], scales: list[float]) -> Edit:
    """`edit` (batch n) with `extra`'s row i (batch len(rows)) times scales[i] added to its row rows[i]
    (α folded into δ̃; the other rows get zero rows, which add nothing)."""
    factors = {}
    for name, f in edit.factors.items():
        g = extra.factors[name]
        n, width = f.u.shape[0], g.u.shape[1]
        u2 = g.u.new_zeros(n, width, g.u.shape[-1])
        d2 = g.d.new_zeros(n, width, g.d.shape[-1])
        factor = torch.as_tensor(scales, dtype=g.d.dtype, device=g.d.device).reshape(-1, 1, 1)
        u2[rows], d2[rows] = g.u, g.d * g.alpha * factor
        factors[name] = EditFactor(torch.cat([f.u, u2], 1), torch.cat([f.d * f.alpha, d2], 1),
                                   torch.ones((), dtype=f.d.dtype, device=f.d.device))
    return Edit(factors, dict(edit.meta))


def repair_edit(editor, model: nn.Module, edit: Edit, requests: list[list[int]], continued: list[list[int]],
                 pad: int) -> Edit:
    """The repair pseudo-gradients (batch len(requests)): the continuation loss under `edit` (same rows)."""
    pairs = [(ids + more, [IGNORE] * len(ids) + more) for ids, more in zip(requests, continued)]
    batch = collate(pairs, pad).to(families.device_of(model))
    with active_edit(model, edit, stack=True):
        state = trunk(model, batch.input_ids, editor.first_block)
        inputs, grads, _ = editor.capture_grads(model, batch, state)
    factors = editor.transform_all(inputs, grads, batch.edit_rows)
    return editor.project(Edit({n: factors[n] for n in editor.weight_names}), inputs, batch.edit_rows)


def _request_batch(batch: Batch, rows: list[int], pad: int) -> Batch:
    pairs = []
    for b in rows:
        length = int(batch.attention_mask[b].sum())
        pairs.append((batch.input_ids[b, :length].tolist(), batch.labels[b, :length].tolist()))
    return collate(pairs, pad).to(batch.input_ids.device)


def first_clean_scales(editor, model, batch: Batch, edit: Edit, repair: Edit, requests, targets,
                       scales: tuple[float, ...], pad: int) -> list[float | None]:
    """Per row: the smallest scale under which edit + scale·repair holds and does not loop (None: none)."""
    state = trunk(model, batch.input_ids, editor.first_block)
    chosen: list[float | None] = [None] * len(batch)
    for scale in scales:
        rows = list(range(len(batch)))
        combined = with_rows(edit, repair, rows, [scale] * len(rows))
        held = targets_held(model, batch, state, editor.first_block, combined)
        todo = [i for i in rows if chosen[i] is None and held[i]]
        if not todo:
            continue
        continued = continue_ids(model, [requests[i] for i in todo], pad, CHECK_TOKENS, edit=combined.take(todo),
                                 owner=list(range(len(todo))), stack=True)
        for i, ids in zip(todo, continued):
            if not loops(targets[i], ids):
                chosen[i] = scale
        if all(c is not None for c in chosen):
            break
    return chosen


def _repair_rows(editor, model: nn.Module, batch: Batch, edit: Edit, rows: list[int], requests, targets,
                 continued: list[list[int]], scales: tuple[float, ...], pad: int) -> tuple[Edit, dict[int, float]]:
    """`edit` with the repair towards `continued` (one per row of `rows`) added to each row it makes clean, and
    the scale chosen per row fixed."""
    own = edit.take(rows)
    repair = repair_edit(editor, model, own, requests, continued, pad)
    found = first_clean_scales(editor, model, _request_batch(batch, rows, pad), own, repair, requests, targets,
                               scales, pad)
    fixed = [j for j, s in enumerate(found) if s is not None]
    if fixed:
        edit = with_rows(edit, repair.take(fixed), [rows[j] for j in fixed], [found[j] for j in fixed])
    return edit, {rows[j]: found[j] for j in fixed}


def stop_ids(model: nn.Module) -> list[int]:
    """The end-of-text token the stop repair teaches ([]: the model's generation config names none)."""
    eos = getattr(model.generation_config, "eos_token_id", None)
    eos = eos[0] if isinstance(eos, (list, tuple)) and eos else eos
    return [int(eos)] if eos is not None else []


@torch.no_grad()
def repair_loops(editor, model: nn.Module, batch: Batch, edit: Edit, tokens: int, scales: tuple[float, ...],
                 pad: int, stop: bool = False) -> Edit:
    """`edit` with the repair added to each row the step search held but could not make clean
    (`meta["step_clean"]` False); the chosen repair scales (0: none) are in `meta["repair_scales"]`.
    `stop`: a row the base model's words do not mend (or after whose target the base model says nothing) is
    then repaired towards ending its text right after the target (the model's end-of-text token), under the
    same check; those rows are listed in `meta["repair_stopped"]`."""
    values = [0.0] * len(batch)
    rows = [b for b, ok in enumerate(edit.meta.get("step_clean") or ()) if ok is False]
    requests, targets = request_ids(_request_batch(batch, rows, pad)) if rows else ([], [])
    by_row = {b: (request, target) for b, request, target in zip(rows, requests, targets)}
    continued = continue_ids(model, requests, pad, tokens, stack=True) if rows else []
    keep = [i for i, more in enumerate(continued) if more]  # the base model said something after the target
    fixed: dict[int, float] = {}
    if keep:
        edit, fixed = _repair_rows(editor, model, batch, edit, [rows[i] for i in keep], [requests[i] for i in keep],
                                   [targets[i] for i in keep], [continued[i] for i in keep], scales, pad)
    stopped: dict[int, float] = {}
    left, end = [b for b in rows if b not in fixed], stop_ids(model) if stop else []
    if left and end:
        edit, stopped = _repair_rows(editor, model, batch, edit, left, [by_row[b][0] for b in left],
                                     [by_row[b][1] for b in left], [end] * len(left), scales, pad)
    for b, scale in (fixed | stopped).items():
        values[b] = scale
    edit.meta["repair_scales"] = values
    edit.meta["repair_stopped"] = sorted(stopped)
    return edit
