"""Chains of edits in training (RLEdit-style; issue #14): the editor learns on the model it will meet in a sequence.

With `TrainConfig.sequence_length` L > 1, the steps come in chains of L: at step k of a chain, every row's
edit is computed on the model as edited by that row's k earlier edits of the chain (their low-rank factors,
detached, α folded: the trainer never changes them), its losses are taken on that edited model plus the new
edit, and, with `c_retain`, the targets of up to `retain_probes` of the row's earlier edits are scored after
it too (an edit that undoes the earlier ones pays for it). The locality and continuation KL compare with the
base model, so the chain's drift counts against every new edit. A chain starts at every step that is a
multiple of L; `TrainConfig` asks that every save point is one, so a resumed run starts a fresh chain exactly
where the uninterrupted run did.
"""
from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import torch

from ..editor.edit import Edit, EditFactor
from ..editor.hooks import active_edit
from ..prompts import Example


class EditChain:
    """The current chain of this process: one chain per row of its share of every step's batch."""

    def __init__(self, length: int):
        if length < 2:
            raise ValueError(f"a chain has at least 2 edits, got sequence_length={length}")
        self.length = length
        self.carried: Edit | None = None       # row b: the sum of row b's earlier edits of the chain
        self.history: list[list[Example]] = []  # row b: the examples those edits were made from

    def __len__(self) -> int:
        return len(self.history[0]) if self.history else 0

    def starts_at(self, step: int) -> bool:
        return step % self.length == 0

    def reset(self) -> None:
        self.carried, self.history = None, []

    def add(self, edit: Edit, examples: list[Example]) -> None:
        """Append a step's edit (one row per chain) to the chain, detached and with α folded into δ̃."""
        if self.history and len(examples) != len(self.history):
            raise ValueError(f"a chain step has {len(self.history)} rows, got {len(examples)} examples")
        part = {}
        for name, f in edit.factors.items():
            u, d = f.u.detach(), (f.d * f.alpha).detach()
            if self.carried is not None:
                old = self.carried.factors[name]
                u, d = torch.cat([old.u, u], dim=1), torch.cat([old.d, d], dim=1)
            part[name] = EditFactor(u, d, torch.ones((), dtype=d.dtype, device=d.device))
        self.carried = Edit(part, {"chain_length": len(self) + 1})
        earlier = self.history or [[] for _ in examples]
        self.history = [h + [ex] for h, ex in zip(earlier, examples)]

    def applied(self, model, rows: list[int]):
        """The model as edited by the chain so far, row i of the forward batch under chain `rows[i]`."""
        return nullcontext() if self.carried is None else active_edit(model, self.carried.take(rows))

    def pick(self, rngs: list[np.random.Generator], per_row: int) -> list[tuple[int, Example]]:
        """Up to `per_row` earlier edits of every row's chain (row, example), drawn without replacement, row b's
        with `rngs[b]` (seeded by the row's place in the global batch, so N processes draw what one process does)."""
        picked = []
        for row, (earlier, rng) in enumerate(zip(self.history, rngs)):
            chosen = rng.choice(len(earlier), size=min(per_row, len(earlier)), replace=False)
            picked += [(row, earlier[i]) for i in sorted(chosen)]
        return picked
