"""The meta-training objective as a module: `EditObjective(examples)` edits every example and returns the
loss terms, so a data-parallel engine (Accelerate's `prepare`: DDP) wraps it like any model.

Loss = c_edit · NLL(target | edited model) + c_loc · KL(pre ‖ post) on locality probes (one per configured
group) + c_cont · KL(pre ‖ post) on the base model's continuation after the target (`continuation.py`)
+ c_plain · NLL(target | edited model, the edit prompt without its instruction): an edit made from the
instruction-wrapped prompt should hold when the fact is asked plainly too;
+ c_retain · NLL(earlier targets of the edit's chain | edited model) when training on chains (`chain.py`).
Each term is a mean over the examples, so averaging gradients over processes that each hold an equal
share of a global batch gives the global batch's gradient. Only the editor is a submodule: the base model
and the trunk cache are read-only attributes that no engine wraps or synchronises.
"""
from __future__ import annotations

from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn

from ..editor.editor import Editor
from ..editor.forward import per_record_mean, per_record_nll, predicted_logits, top_hidden
from ..editor.hooks import active_edit
from ..evaluation.schema import locality_group
from ..prompts import Example
from ..tokenize import collate
from .chain import EditChain
from .config import TrainConfig
from .continuation import example_key


class EditObjective(nn.Module):
    def __init__(self, editor: Editor, model: nn.Module, pad_id: int, cache, config: TrainConfig):
        super().__init__()
        self.editor = editor
        self.__dict__.update(base_model=model, pad_id=pad_id, cache=cache, config=config)  # not submodules
        self.continuations: dict = {}  # example key -> base continuation pair (filled with the cache)
        self.last_edit = None          # the last forward's edit, detached

    def loss_pair(self, ex: Example):
        return ex.rephrases[0] if self.config.loss_input == "rephrase" and ex.rephrases else ex.edit

    def locality_pairs(self, ex: Example) -> list:
        """The locality probes the KL runs on: the first of each configured group, or the first probe."""
        if not self.config.locality_groups:
            return ex.locality[:1]
        groups = [locality_group(p.kind) for p in ex.record.locality]
        chosen = [groups.index(g) for g in self.config.locality_groups if g in groups]
        return [ex.locality[i] for i in chosen] or ex.locality[:1]

    def plain_pairs(self, examples: list[Example]) -> tuple[list, list[int]]:
        """The plain edit prompts the c_plain term runs on, and their owning example (wrapped examples only)."""
        if self.config.c_plain <= 0:
            return [], []
        chosen = [(ex.plain, i) for i, ex in enumerate(examples) if ex.plain is not None]
        return [pair for pair, _ in chosen], [i for _, i in chosen]

    def kl_pairs(self, examples: list[Example]) -> tuple[list, list[int], int]:
        """Pairs the KL terms run on, their owning example, and how many of them are locality pairs (the
        rest are base continuations after the target)."""
        pairs, owner = [], []
        for i, ex in enumerate(examples):
            for pair in self.locality_pairs(ex):
                pairs.append(pair)
                owner.append(i)
        n_loc = len(pairs)
        if self.config.c_cont > 0:
            for i, ex in enumerate(examples):
                if (pair := self.continuations.get(example_key(ex))) is not None:
                    pairs.append(pair)
                    owner.append(i)
        return pairs, owner, n_loc

    def forward(self, examples: list[Example], update_stats: bool = True, chain: EditChain | None = None,
                retained: list[tuple[int, Example]] = ()) -> dict[str, torch.Tensor]:
        """The loss terms of one edit per example; with a `chain` (`chain.py`), example i's edit is made and scored
        on the model as edited by chain row i, and `retained` (row, earlier example of that row's chain) are the
        earlier edits whose targets the c_retain term scores after it."""
        model, pad, start, n = self.base_model, self.pad_id, self.editor.first_block, len(examples)
        with chain.applied(model, list(range(n))) if chain is not None else nullcontext():
            edit = self.editor.edit(model, collate([ex.edit for ex in examples], pad),
                                    self.cache.state([ex.edit[0] for ex in examples]), update_stats=update_stats)
        self.last_edit = edit.detach()  # what a chain carries on (`chain.py`)
        kl_pairs, kl_owner, n_loc = self.kl_pairs(examples)
        with torch.no_grad():
            kl_state = self.cache.state([pair[0] for pair in kl_pairs])
            pre_logits, _, kl_rows = predicted_logits(model, top_hidden(model, kl_state, start), collate(kl_pairs, pad))
        plain_pairs, plain_owner = self.plain_pairs(examples)
        kept_pairs, kept_owner = [self.loss_pair(ex) for _, ex in retained], [row for row, _ in retained]
        # the post-edit passes (edit loss input, plain prompts, the chain's earlier edits, the KL inputs): one batch
        post_pairs = [self.loss_pair(ex) for ex in examples] + plain_pairs + kept_pairs + kl_pairs
        owners = list(range(n)) + plain_owner + kept_owner + kl_owner
        with chain.applied(model, owners) if chain is not None else nullcontext(), \
                active_edit(model, edit.take(owners), stack=True):
            hidden = top_hidden(model, self.cache.state([pair[0] for pair in post_pairs]), start)
            logits, targets, rows = predicted_logits(model, hidden, collate(post_pairs, pad))
        nll, plain, kept = (self._nll(logits, targets, rows, first, count) for first, count in (
            (0, n), (n, len(plain_pairs)), (n + len(plain_pairs), len(kept_pairs))))
        is_kl = rows >= n + len(plain_pairs) + len(kept_pairs)
        pre_lp, post_lp = F.log_softmax(pre_logits.float(), -1), F.log_softmax(logits[is_kl].float(), -1)
        kl_tok = (pre_lp.exp() * (pre_lp - post_lp)).sum(-1)
        owner = torch.tensor(kl_owner, device=kl_rows.device)[kl_rows]
        is_loc = kl_rows < n_loc
        kl = per_record_mean(kl_tok[is_loc], owner[is_loc], n)
        cont = per_record_mean(kl_tok[~is_loc], owner[~is_loc], n) if (~is_loc).any() else kl.new_zeros(n)
        c = self.config
        plain, kept = (t.mean() if len(t) else kl.new_zeros(()) for t in (plain, kept))
        total = (c.c_edit * nll.mean() + c.c_loc * kl.mean() + c.c_cont * cont.mean() + c.c_plain * plain
                 + c.c_retain * kept)
        return {"loss": total, "edit_nll": nll.mean().detach(), "plain_nll": plain.detach(), "kl": kl.mean().detach(),
                "cont_kl": cont.mean().detach(), "retain_nll": kept.detach(),
                "pre_edit_nll": torch.tensor(edit.meta["edit_loss"])}

    @staticmethod
    def _nll(logits, targets, rows, first: int, count: int) -> torch.Tensor:
        """Per-pair NLL [count] of the post-edit batch's pairs first .. first + count - 1."""
        if not count:
            return logits.new_zeros(0)
        chosen = (rows >= first) & (rows < first + count)
        return per_record_nll(logits[chosen], targets[chosen], rows[chosen] - first, count)
