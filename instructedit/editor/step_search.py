"""Step-size search at edit time: the smallest multiple of the editor's step under which the edit holds on
its own request and does not loop.

MEND applies its pseudo-gradient ũδ̃ᵀ with one learned step α per weight, the same for every edit. Some
edits then fall short (the target becomes likely but is not the greedy answer) and some overshoot (the
target is said, then said again). The edit request (prompt + target) is a check the editor can run itself.
For each scale s in `scales` the edited top blocks score the request under the update s·α·ũδ̃ᵀ; the scales
under which every target token is the top-1 prediction *hold* (teacher-forced: greedy decoding then says
exactly the target). Then, smallest held scale first, the edited model continues prompt + target greedily
for CHECK_TOKENS tokens, and the scale is *clean* when that text does not loop (`loops`). Each edit takes

  * the smallest held scale that is clean, else
  * the smallest held scale, else
  * `fallback` (1: the editor's own step; a single scale with itself as fallback is a fixed multiplier).

Only the request is read (no probe, no other record), so a user's edit and an evaluated edit are searched
alike. Cost: one pass of the edited top blocks per scale, and one CHECK_TOKENS-token greedy continuation per
held scale tried (usually one or two per edit).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..models import families
from ..models.families import BlockInput
from ..tokenize import IGNORE, Batch
from .batched_generation import continue_ids
from .edit import Edit
from .forward import per_record_mean, predicted_logits, top_hidden
from .hooks import active_edit

CHECK_TOKENS = 20
TARGET_REPEAT_LIMIT = 3   # the target said this often in target + check continuation: a loop
RUN_LIMIT = 3             # an n-gram of tokens repeated this many times in a row: a loop
RUN_ORDERS = (1, 2, 3, 4)


def validate_scales(scales) -> tuple[float, ...]:
    """`scales` as an ascending tuple of positive floats (empty: no search); a clear error otherwise."""
    scales = tuple(float(s) for s in (scales or ()))
    if any(s <= 0 for s in scales):
        raise ValueError(f"step_scales must all be > 0, got {list(scales)}")
    if list(scales) != sorted(set(scales)):
        raise ValueError(f"step_scales must be strictly ascending, got {list(scales)}")
    return scales


def _occurrences(ids: list[int], pattern: list[int]) -> int:
    n, count, i = len(pattern), 0, 0
    while n and i + n <= len(ids):
        if ids[i:i + n] == pattern:
            count, i = count + 1, i + n
        else:
            i += 1
    return count


def _has_run(ids: list[int], order: int) -> bool:
    span = order * RUN_LIMIT
    return any(all(ids[i + k] == ids[i + k % order] for k in range(span)) for i in range(len(ids) - span + 1))


def loops(target: list[int], continuation: list[int]) -> bool:
    """Whether target + its continuation loops: the target TARGET_REPEAT_LIMIT times, or a 1-4-token n-gram
    RUN_LIMIT times in a row ("industry industry industry", "P.P.P.", "Harvard University. " x 3)."""
    ids = target + continuation
    return _occurrences(ids, target) >= TARGET_REPEAT_LIMIT or any(_has_run(ids, n) for n in RUN_ORDERS)


@torch.no_grad()
def targets_held(model: nn.Module, batch: Batch, state: BlockInput, start: int, edit: Edit) -> torch.Tensor:
    """Per row of `batch` under `edit` (row i edits row i): whether every target token is the top-1 prediction."""
    with active_edit(model, edit, stack=True):  # on top of the edits a sequence has applied so far
        hidden = top_hidden(model, state, start)
    logits, targets, rows = predicted_logits(model, hidden, batch)
    return per_record_mean(logits.argmax(-1) == targets, rows, len(batch)).cpu() == 1


def request_ids(batch: Batch) -> tuple[list[list[int]], list[list[int]]]:
    """Per row: the prompt + target token ids (up to the last target token), and the target ids."""
    requests, targets = [], []
    for ids, labels in zip(batch.input_ids.tolist(), batch.labels.tolist()):
        positions = [i for i, label in enumerate(labels) if label != IGNORE]
        requests.append(ids[:positions[-1] + 1])
        targets.append([labels[i] for i in positions])
    return requests, targets


@dataclass
class RideAlong:
    """Prompts (token ids) continued in the step search's first check generation, so that a caller who needs
    continuations under the chosen step does not wait for a second generation: row i runs under edit row
    `owner[i]` at the first scale that row is checked at (its fallback when no scale holds; None: unedited)
    for `budgets[i]` tokens. After the search `continued[i]` is its continuation, or None where its owner
    ended on another scale than the one it was first checked at, or was changed after the search (the loop
    repair, `forget`), or no search ran: the caller generates those rows itself."""

    prompt_ids: list[list[int]]
    owner: list[int | None]
    budgets: list[int]
    continued: list[list[int] | None] = field(default_factory=list)

    def __post_init__(self):
        if not len(self.prompt_ids) == len(self.owner) == len(self.budgets):
            raise ValueError(f"ride-along rows: {len(self.prompt_ids)} prompts, {len(self.owner)} owners, "
                             f"{len(self.budgets)} budgets")
        self.continued = self.continued or [None] * len(self.prompt_ids)

    def forget(self, rows: list[int]) -> None:
        """Drop the continuations of the rows owned by edit rows `rows` (their edit changed)."""
        dropped = set(rows)
        self.continued = [None if o in dropped else ids for o, ids in zip(self.owner, self.continued)]

    def edit_rows(self, offset: int, zero: int) -> list[int]:
        """Each row's edit row in a batch whose rows offset.. are the owners' and row `zero` adds nothing."""
        return [zero if o is None else offset + o for o in self.owner]

    def settle(self, model: nn.Module, edit: Edit) -> list[list[int]]:
        """Every row's continuation: as the search left it, the rest continued now under the edit as it ended
        (`edit`, the owners' rows; unedited rows under a zero row), in one batched generation."""
        todo = [i for i, ids in enumerate(self.continued) if ids is None]
        if todo:
            rows = self.edit_rows(0, edit.batch_size)
            done = continue_ids(model, [self.prompt_ids[i] for i in todo], _pad(model),
                                [self.budgets[i] for i in todo], edit=with_zero_row(edit),
                                owner=[rows[i] for i in todo], stack=True)
            for i, ids in zip(todo, done):
                self.continued[i] = ids
        return list(self.continued)


def with_zero_row(edit: Edit, scales: list[float] | None = None) -> Edit:
    """`edit` (rows scaled by `scales`, if given) with one more row at the end that adds exactly nothing."""
    n = edit.batch_size
    return edit.take(list(range(n)) + [0]).scaled(torch.tensor(list(scales or [1.0] * n) + [0.0]))


def _pad(model: nn.Module) -> int:
    return getattr(model.generation_config, "pad_token_id", None) or 0


def _clean(model: nn.Module, edit: Edit, rows: list[int], scales: list[float], requests, targets,
           ride: RideAlong | None = None, first: list[float] | None = None) -> list[bool]:
    """Whether each row's request, continued greedily under its edit row x its scale, does not loop; with
    `ride`, its rows are continued in the same generation (edit row b at first[b]; unedited: a zero row)."""
    prompts, owner, budgets = [requests[b] for b in rows], list(range(len(rows))), [CHECK_TOKENS] * len(rows)
    if ride is None:
        scaled = edit.take(rows).scaled(torch.tensor(scales))
    else:
        scaled = with_zero_row(edit.take(rows + list(range(edit.batch_size))), scales + first)
        prompts += ride.prompt_ids
        owner += ride.edit_rows(len(rows), scaled.batch_size - 1)
        budgets += ride.budgets
    continued = continue_ids(model, prompts, _pad(model), budgets, edit=scaled, owner=owner, stack=True)
    if ride is not None:
        ride.continued = continued[len(rows):]
    return [not loops(targets[b], ids) for b, ids in zip(rows, continued)]


def search_step(model: nn.Module, batch: Batch, state: BlockInput, start: int, edit: Edit,
                scales: tuple[float, ...], fallback: float = 1.0, ride: RideAlong | None = None) -> Edit:
    """`edit` with each row's update scaled by its chosen step (see the module docstring); the chosen
    scales are in `meta["step_scales"]`, and in `meta["step_clean"]` whether each row's held cleanly (True),
    held only with a loop (False) or never held (None). `ride`: rows continued in the first check (`RideAlong`)."""
    batch = batch.to(families.device_of(model))
    n = len(batch)
    held = torch.stack([targets_held(model, batch, state, start, edit.scaled(torch.full((n,), s))) for s in scales])
    candidates = {b: [s for s, ok in zip(scales, held[:, b].tolist()) if ok] for b in range(n)}
    chosen = {b: fallback for b in range(n) if not candidates[b]}
    outcome: dict[int, bool | None] = {b: None for b in chosen}  # None: no scale held
    first = [candidates[b][0] if candidates[b] else fallback for b in range(n)]
    requests, targets = request_ids(batch)
    tried = {b: 0 for b in candidates if candidates[b]}
    carried = ride  # only the first check carries the ride-along rows
    if carried is not None and not tried:
        _clean(model, edit, [], [], requests, targets, carried, first)
    while tried:
        rows = list(tried)
        clean = _clean(model, edit, rows, [candidates[b][tried[b]] for b in rows], requests, targets, carried, first)
        carried = None
        for b, ok in zip(rows, clean):
            if ok:
                chosen[b], outcome[b] = candidates[b][tried.pop(b)], True
            elif tried[b] + 1 == len(candidates[b]):
                chosen[b], outcome[b] = candidates[b][0], False
                del tried[b]
            else:
                tried[b] += 1
    values = [chosen[b] for b in range(n)]
    if ride is not None:
        ride.forget([b for b in range(n) if values[b] != first[b]])
    out = edit.scaled(torch.tensor(values))
    out.meta["step_scales"] = values
    out.meta["step_clean"] = [outcome[b] for b in range(n)]
    return out
