"""The values an `EditSequence` holds (see its module docstring): each live edit normalised (α folded into δ̃,
empty rows dropped), and per edited weight the folded edits' dense output-space matrix, written back as factors
with an identity on the smaller side. Also a MEND editor's view with its own normalisers (lifelong statistics)."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import nn

from ..models import families
from .contract import EditorContract
from .edit import Edit, EditFactor


@dataclass
class Folded:
    """The edits folded into one weight's dense output-space matrix (x @ dense is their output delta)."""

    dense: torch.Tensor
    members: set[int] = field(default_factory=set)


def normalised(edit: Edit, device: torch.device | None = None) -> Edit:
    """A single edit (B = 1) with α folded into δ̃ (α = 1) and the rows whose ũ or δ̃ is zero dropped:
    the same output delta, detached, on `device`."""
    if edit.batch_size != 1:
        raise ValueError(f"add one edit at a time (B = 1), got B = {edit.batch_size}; use .merged() for a "
                         f"batch edit of several records")
    factors = {}
    for name, f in edit.factors.items():
        u, d = f.u[0].detach(), (f.d[0] * f.alpha).detach()
        keep = (u.abs().amax(-1) > 0) & (d.abs().amax(-1) > 0) if u.shape[0] else torch.zeros(0, dtype=torch.bool)
        u, d = u[keep.to(u.device)].float(), d[keep.to(d.device)].float()
        target = device or u.device
        factors[name] = EditFactor(u.unsqueeze(0).to(target), d.unsqueeze(0).to(target),
                                   torch.ones((), device=target))
    return Edit(factors, dict(edit.meta))


def product(factor: EditFactor) -> torch.Tensor:
    """uᵀδ̃ in float64 [in, out]: the factor's output delta is x @ this (α = 1)."""
    return factor.u[0].double().T @ factor.d[0].double()


def dense_factor(dense: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(u, d) with uᵀd = dense and an identity on the smaller side (min(in, out) rows)."""
    n_in, n_out = dense.shape
    if n_in <= n_out:
        return torch.eye(n_in, device=dense.device), dense.float()
    return dense.T.float(), torch.eye(n_out, device=dense.device)


def check_shapes(model: nn.Module, edit: Edit) -> None:
    """Every factor of `edit` fits a weight of `model` (an edit made for another model does not)."""
    for name, factor in edit.factors.items():
        try:
            shape = families.weight_in_out(model, name)
        except AttributeError:
            raise ValueError(f"the edit touches {name}, which this model does not have") from None
        if (factor.u.shape[-1], factor.d.shape[-1]) != shape:
            raise ValueError(f"the edit of {name} is {factor.u.shape[-1]}x{factor.d.shape[-1]}, the model's weight "
                             f"is {shape[0]}x{shape[1]}")


def with_own_norms(editor: EditorContract) -> EditorContract | None:
    """A view of a MEND editor sharing its networks and α but with its own copy of the normalisers
    (None for editors without normalisers). The editor itself is left as it is."""
    norms = getattr(editor, "norms", None)
    if not isinstance(editor, nn.Module) or not isinstance(norms, nn.Module):
        return None
    view = copy.copy(editor)
    view._modules = dict(editor._modules)  # its own child table: replacing `norms` leaves the editor's
    view._modules["norms"] = copy.deepcopy(norms)
    return view
