"""Loop repair along a sequence: the earlier edits that later edits made loop, repaired on the model as edited.

Each edit of a sequence is checked for loops when it is made (the step search and `repair.py` look at its own
request under the edits before it), but the edits after it change the model under it. Measured on validation
(zsRE records 0-99, the chosen sequence setting): 5 of the first 10 edits loop at T = 10 although none did
when it was made, e.g. " architect? architect? architect? ..." from the fifth edit on, " violin? violin? ...".

`repair_kept_edits(sequence)` re-checks every kept edit of an `EditSequence` that remembers its examples:
  1. each edit's request (prompt + target) is continued greedily for `step_search.CHECK_TOKENS` tokens under
     the cumulative edit, in one batch; the edits whose target + continuation loops (`step_search.loops`) are
     the ones to repair;
  2. the base model continues each of their requests for `tokens` tokens (its own words after the target),
     and under the cumulative edit the loss of those tokens goes through the editor's gradient networks, as
     the single-edit loop repair does (`repair.repair_edit`), projected as the sequence's next edit would be
     (with a guard's re-solve: against the other edits' keys and the preserved keys);
  3. each repair is added at the smallest of `scales` under which its edit's target is still greedy
     (teacher-forced) and its continuation stops looping; it amends that edit (`EditSequence.amend`), so undo
     of the edit removes its repair too. An edit that no scale mends stays as it was.

Only the edits' own requests (and the base model's words after them) are read, as for single edits. Cost per
check: one batched CHECK_TOKENS-token generation of every kept request; per looping edit a `tokens`-token base
continuation, one pass of the gradient networks and per scale one teacher-forced pass and one short
continuation (batched over the looping edits).
"""
from __future__ import annotations

import logging

import torch

from ..models import families
from ..tokenize import collate
from .batched_generation import continue_ids
from .edit import Edit, EditFactor
from .hooks import active_edit
from .repair import DEFAULT_SCALES, first_clean_scales, repair_edit
from .step_search import CHECK_TOKENS, loops, request_ids

log = logging.getLogger(__name__)

DEFAULT_TOKENS = 8  # the base model's tokens after the target that a repair teaches (as `repair_tokens`)


def _zero_rows(like: Edit, rows: int) -> Edit:
    """An edit of `rows` rows that adds nothing: the repair's own check stacks on the active cumulative edit."""
    factors = {}
    for name, f in like.factors.items():
        u = f.u.new_zeros(rows, 1, f.u.shape[-1])
        factors[name] = EditFactor(u, f.d.new_zeros(rows, 1, f.d.shape[-1]), torch.ones((), device=u.device))
    return Edit(factors)


def looping_edits(model, requests: list[list[int]], targets: list[list[int]], pad: int, current: Edit) -> list[int]:
    """The rows whose request (prompt + target) loops when `current` continues it (CHECK_TOKENS tokens)."""
    with active_edit(model, current):
        continued = continue_ids(model, requests, pad, CHECK_TOKENS)
    return [r for r, (target, more) in enumerate(zip(targets, continued)) if loops(target, more)]


@torch.no_grad()
def repair_kept_edits(sequence, tokens: int = DEFAULT_TOKENS, scales: tuple[float, ...] = DEFAULT_SCALES) -> dict:
    """Repair the kept edits of `sequence` that loop under its cumulative edit (module docstring); returns
    {edit index: the repair scale it was amended with} for the edits mended."""
    kept = [(e.index, e.examples[0]) for e in sequence.entries if len(e.examples) == 1]
    current = sequence.cumulative()
    editor = sequence.editor
    if not kept or current is None or not hasattr(editor, "transform_all"):
        return {}
    model, pad = sequence.model, sequence.pad_id
    batch = collate([example.edit for _, example in kept], pad)
    requests, targets = request_ids(batch)
    rows = looping_edits(model, requests, targets, pad, current)
    base_words = continue_ids(model, [requests[r] for r in rows], pad, tokens) if rows else []
    rows = [r for r, words in zip(rows, base_words) if words]  # the base model says something after the target
    if not rows:
        return {}
    words = [w for w in base_words if w]
    view = sequence.editor_for([kept[r][1] for r in rows])
    sub = collate([kept[r][1].edit for r in rows], pad).to(families.device_of(model))
    with active_edit(model, current):
        own = _zero_rows(current, len(rows))
        repair = repair_edit(view, model, own, [requests[r] for r in rows], words, pad)
        found = first_clean_scales(view, model, sub, own, repair, [requests[r] for r in rows],
                                   [targets[r] for r in rows], scales, pad)
    mended = {}
    for j, (r, scale) in enumerate(zip(rows, found)):
        if scale is not None:
            index = kept[r][0]
            sequence.amend(index, repair.select(j).scaled([scale]))
            mended[index] = scale
    log.info("sequence repair: %d of %d kept edits looped, %d mended", len(rows), len(kept), len(mended))
    return mended
