"""FT-L: constrained fine-tuning of the edited weights, a classical baseline behind the Editor interface.

Per record, a dense ΔW for each edited weight is optimised (Adam) on the target NLL with every entry clamped
to ±`norm_constraint` after each step (as FT-L in ROME/EasyEdit). The result is an Edit: ΔW written as
factors with an identity on its smaller side, so it is applied, composed and reverted like any other edit.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .editor.contract import EditorContract
from .editor.edit import Edit, EditFactor
from .editor.forward import per_record_nll, predicted_logits, top_hidden, trunk
from .editor.hooks import active_edit
from .models import families
from .tokenize import Batch


@dataclass
class FineTuneConfig:
    edit_last_k: int = 3
    modules: tuple[str, ...] | None = None
    steps: int = 25
    lr: float = 5e-4
    norm_constraint: float = 5e-4

    def __post_init__(self):
        if self.steps < 1 or self.lr <= 0 or self.norm_constraint <= 0:
            raise ValueError("FT-L: steps >= 1, lr > 0 and norm_constraint > 0 are required")


class _DenseDelta:
    """Output delta of dense per-weight updates (the OutputDelta protocol of editor.hooks)."""

    def __init__(self, deltas: dict[str, torch.Tensor], conv1d: bool):
        self.deltas, self.conv1d = deltas, conv1d

    @property
    def names(self) -> list[str]:
        return list(self.deltas)

    def output_delta(self, name: str, x: torch.Tensor) -> torch.Tensor | None:
        delta = self.deltas.get(name)
        if delta is None:
            return None
        return x @ delta if self.conv1d else x @ delta.T


class FineTuneEditor(EditorContract):
    """`edit(model, batch) -> Edit` with one independent fine-tuned edit per record."""

    def __init__(self, model: nn.Module, config: FineTuneConfig = FineTuneConfig()):
        self.config = config
        self.weight_names = families.editable_weight_names(model, config.edit_last_k, config.modules)
        self.first_block = min(families.block_index(n) for n in self.weight_names)
        self.conv1d = families.family_of(model).conv1d

    @property
    def uses_instructions(self) -> bool:
        return False

    def eval(self) -> "FineTuneEditor":
        return self

    def _fit(self, model: nn.Module, batch: Batch, state) -> dict[str, torch.Tensor]:
        deltas = {n: torch.zeros_like(model.get_parameter(n), requires_grad=True) for n in self.weight_names}
        optimizer = torch.optim.Adam(deltas.values(), lr=self.config.lr)
        # fitted on the model as the caller runs it: on top of any edit already active (a sequence of edits)
        with torch.enable_grad(), active_edit(model, _DenseDelta(deltas, self.conv1d), stack=True):
            for _ in range(self.config.steps):
                logits, targets, rows = predicted_logits(model, top_hidden(model, state, self.first_block), batch)
                loss = per_record_nll(logits, targets, rows, len(batch)).sum()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                with torch.no_grad():
                    for delta in deltas.values():
                        delta.clamp_(-self.config.norm_constraint, self.config.norm_constraint)
        return {n: d.detach() for n, d in deltas.items()}

    def _factor(self, delta: torch.Tensor) -> EditFactor:
        # stored (out x in) for Linear, (in x out) for Conv1D; the edit needs ΔW = uᵀd (Conv1D) or dᵀu (Linear)
        in_out = delta if self.conv1d else delta.T              # (in x out)
        n_in, n_out = in_out.shape
        if n_in <= n_out:
            u, d = torch.eye(n_in, device=delta.device), in_out  # uᵀd = in_out
        else:
            u, d = in_out.T, torch.eye(n_out, device=delta.device)  # uᵀd = in_out
        return EditFactor(u.unsqueeze(0), d.unsqueeze(0), torch.ones((), device=delta.device))

    def edit(self, model: nn.Module, batch: Batch, state=None, update_stats: bool = False, ride=None) -> Edit:
        edits = []
        for i in range(len(batch)):
            one = Batch(batch.input_ids[i:i + 1], batch.attention_mask[i:i + 1], batch.labels[i:i + 1])
            deltas = self._fit(model, one, trunk(model, one.input_ids, self.first_block))
            edits.append({n: self._factor(d) for n, d in deltas.items()})
        factors = {n: EditFactor(torch.cat([e[n].u for e in edits]), torch.cat([e[n].d for e in edits]),
                                 edits[0][n].alpha) for n in self.weight_names}
        return Edit(factors, {"method": "FT-L"})


class NoEditEditor(EditorContract):
    """The unedited model behind the Editor interface: a zero edit (the "Base" row of Table 3)."""

    def __init__(self, model: nn.Module, edit_last_k: int = 3):
        self.weight_names = families.editable_weight_names(model, edit_last_k)
        self.shapes = {n: families.weight_in_out(model, n) for n in self.weight_names}
        self.config = FineTuneConfig(edit_last_k=edit_last_k)
        self.first_block = min(families.block_index(n) for n in self.weight_names)

    @property
    def uses_instructions(self) -> bool:
        return False

    def eval(self) -> "NoEditEditor":
        return self

    def edit(self, model: nn.Module, batch: Batch, state=None, update_stats: bool = False, ride=None) -> Edit:
        n, device = len(batch), families.device_of(model)
        return Edit({name: EditFactor(torch.zeros(n, 1, i, device=device), torch.zeros(n, 1, o, device=device),
                                      torch.zeros((), device=device))
                     for name, (i, o) in self.shapes.items()}, {"method": "none"})
