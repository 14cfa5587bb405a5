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

A sequence keeps a `RepairSchedule` across its checks: an edit that no scale mended sits out the next 1, 2, 4, ...
checks (doubling at each failure; a mend clears it), and the base model's words after each request are computed
once; an edit whose request the base model ends right after the target (no words to teach) is not checked
again. Without it an edit that stays unmendable was re-tried at every check: measured on 20 validation edits (zsRE
records 0-19) with a check after every edit, the failed tries were 63 s of the 88 s the checks took.

Only the edits' own requests (and the base model's words after them) are read, as for single edits. Cost per
check: one batched CHECK_TOKENS-token generation of every kept request that is due; per looping edit (once) a
`tokens`-token base continuation, one pass of the gradient networks and per scale one teacher-forced pass and
one short continuation (batched over the looping edits).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

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


@dataclass
class RepairSchedule:
    """What a sequence's checks remember (module docstring): per edit that no scale mended, the check it is tried
    again at and its current wait; per edit, the base model's words after its request."""

    checks: int = 0  # the checks run so far
    waits: dict[int, tuple[int, int]] = field(default_factory=dict)  # index -> (next check it is tried at, wait)
    base_words: dict[int, list[int]] = field(default_factory=dict)

    def due(self, index: int) -> bool:
        return self.waits.get(index, (0, 0))[0] <= self.checks

    def failed(self, index: int) -> None:
        """Edit `index` looped and no scale mended it at this check: it sits out the next 1, 2, 4, ... checks."""
        wait = 2 * self.waits[index][1] if index in self.waits else 1
        self.waits[index] = (self.checks + wait + 1, wait)

    def nothing_to_teach(self, index: int) -> None:
        """Edit `index` loops but the base model says nothing after its request (it ends there): no repair has
        words to teach it, now or at a later check, so it is not checked again (until `forget`)."""
        self.waits[index] = (math.inf, 0)

    def mended(self, index: int) -> None:
        self.waits.pop(index, None)

    def forget(self, index: int) -> None:
        """Edit `index` left the sequence."""
        self.waits.pop(index, None)
        self.base_words.pop(index, None)


def repair_settings(editor) -> tuple[int, tuple[float, ...]]:
    """(tokens, scales) of the editor's own loop-repair settings (`repair_tokens`, `repair_scales`), or the
    defaults where it has none."""
    config = getattr(editor, "config", None)
    tokens = getattr(config, "repair_tokens", 0) or DEFAULT_TOKENS
    return tokens, tuple(getattr(config, "repair_scales", None) or DEFAULT_SCALES)


def _base_words(model, requests: list[list[int]], indices: list[int], pad: int, tokens: int,
                schedule: RepairSchedule) -> list[list[int]]:
    """The base model's `tokens` words after each request (of the edits `indices`), each computed once."""
    todo = [j for j, index in enumerate(indices) if index not in schedule.base_words]
    if todo:
        for j, words in zip(todo, continue_ids(model, [requests[j] for j in todo], pad, tokens)):
            schedule.base_words[indices[j]] = words
    return [schedule.base_words[index] for index in indices]


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


def _repairs(sequence, current: Edit, examples, requests, targets, words, scales) -> tuple[Edit, list[float | None]]:
    """The repairs of the looping edits of `examples` (one row each) towards the base model's `words`, projected
    as the sequence's next edit would be, and per row the smallest clean scale (None: none)."""
    model, pad = sequence.model, sequence.pad_id
    view = sequence.editor_for(examples)
    batch = collate([example.edit for example in examples], pad).to(families.device_of(model))
    with active_edit(model, current):
        own = _zero_rows(current, len(examples))
        repair = repair_edit(view, model, own, requests, words, pad)
        return repair, first_clean_scales(view, model, batch, own, repair, requests, targets, scales, pad)


@torch.no_grad()
def repair_kept_edits(sequence, tokens: int = DEFAULT_TOKENS, scales: tuple[float, ...] = DEFAULT_SCALES,
                      schedule: RepairSchedule | None = None) -> dict:
    """Repair the kept edits of `sequence` that loop under its cumulative edit (module docstring); returns
    {edit index: the repair scale it was amended with} for the edits mended. `schedule`: what earlier checks of
    this sequence remember (a fresh one: every kept edit is due)."""
    schedule = RepairSchedule() if schedule is None else schedule
    schedule.checks += 1
    kept = [(e.index, e.examples[0]) for e in sequence.entries if len(e.examples) == 1 and schedule.due(e.index)]
    current = sequence.cumulative()
    editor = sequence.editor
    if not kept or current is None or not hasattr(editor, "transform_all"):
        return {}
    model, pad = sequence.model, sequence.pad_id
    requests, targets = request_ids(collate([example.edit for _, example in kept], pad))
    rows = looping_edits(model, requests, targets, pad, current)
    base_words = _base_words(model, [requests[r] for r in rows], [kept[r][0] for r in rows], pad, tokens, schedule)
    said = []  # the looping rows the base model goes on after
    for r, words in zip(rows, base_words):
        if words:
            said.append((r, words))
        else:
            schedule.nothing_to_teach(kept[r][0])
    if not said:
        return {}
    rows, words = map(list, zip(*said))
    repair, found = _repairs(sequence, current, [kept[r][1] for r in rows], [requests[r] for r in rows],
                             [targets[r] for r in rows], words, scales)
    mended = {}
    for j, (r, scale) in enumerate(zip(rows, found)):
        index = kept[r][0]
        if scale is None:
            schedule.failed(index)
            continue
        sequence.amend(index, repair.select(j).scaled([scale]))
        schedule.mended(index)
        mended[index] = scale
    log.info("sequence repair: %d of %d kept edits due looped, %d mended", len(rows), len(kept), len(mended))
    return mended
