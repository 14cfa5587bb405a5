"""Forward passes in two halves (frozen trunk, then the edited top blocks) and the token-level losses."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..models import families
from ..models.families import BlockInput
from ..tokenize import Batch


@torch.no_grad()
def trunk(model: nn.Module, input_ids: torch.Tensor, start: int) -> BlockInput:
    """Hidden states entering block `start` (no gradient: the trunk is frozen)."""
    return families.run_blocks(model, families.embed(model, input_ids), 0, start)


def top_hidden(model: nn.Module, state: BlockInput, start: int) -> torch.Tensor:
    return families.run_blocks(model, state, start).hidden


def predicted_logits(model: nn.Module, hidden: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits only where a label is predicted: (logits [P, V], targets [P], record index [P])."""
    batch = batch.to(hidden.device)
    mask = batch.predict_mask
    rows = mask.nonzero(as_tuple=True)[0]
    logits = families.head(model, hidden[:, :-1][mask])
    targets = batch.labels[:, 1:][mask]
    return logits, targets, rows


def per_record_mean(values: torch.Tensor, rows: torch.Tensor, n: int) -> torch.Tensor:
    """Mean of per-position values grouped by their record index `rows`: [n] (differentiable)."""
    values = values.float()
    total = torch.zeros(n, device=values.device).index_add(0, rows, values)
    count = torch.zeros(n, device=values.device).index_add(0, rows, torch.ones_like(values))
    return total / count.clamp(min=1)


def per_record_nll(logits: torch.Tensor, targets: torch.Tensor, rows: torch.Tensor, n: int) -> torch.Tensor:
    """Mean NLL of each record's target tokens: [n]."""
    return per_record_mean(F.cross_entropy(logits.float(), targets, reduction="none"), rows, n)


def full_logits(model: nn.Module, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Predicted-position logits of the whole model (respecting any active edit)."""
    batch = batch.to(families.device_of(model))
    state = families.embed(model, batch.input_ids)
    hidden = families.run_blocks(model, state, 0).hidden
    return predicted_logits(model, hidden, batch)
