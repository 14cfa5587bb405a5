"""Guards for many edits on one model (issue #14): a step-size rule and a preserved-key projection.

`SequenceGuard` is applied to each new edit of an `EditSequence` before it is added. MEND-style edits made one
after another feed back: once the model is damaged, the next edit's gradient is larger, so is the edit, and
the model collapses within a few edits (measured: the edit's norm grows from ~70 to ~5,700 by edit 10 with
the shipped editor). `scale` multiplies every edit's step (α); `max_norm` caps the Frobenius norm of its
update per edited weight (ΔW = α ũᵀδ̃), which cuts that feedback; `projection` is the preserved-key
projection below.

Preserved-key projection (the idea of AlphaEdit's null-space projection).

An edit changes a layer's output by α · (x ũᵀ) δ̃ for every input x. Keys of text the edit should not touch
(layer inputs of preserved sentences) share a few dominant directions, the mean activation above all, so
MEND-style edits made one after another add up along them and break the model within a few edits. Per edited
weight, `KeyProjection` keeps an orthonormal basis V of the subspace holding `energy` of the preserved keys'
second moment; `apply` replaces each edit row ũ_r by ũ_r (I - VVᵀ), so inputs inside that subspace are no
longer changed, scaled by ‖ũ_r‖² / ‖ũ_r (I - VVᵀ)‖² (at most `max_scale`) so that the row's effect along its
own direction is kept (`max_scale` 1: no rescaling). MEND cannot re-solve its edit under the constraint (AlphaEdit does), so this is an
approximation: how much each edit keeps is measured by the sequence experiments, not assumed.

The preserved sentences must not be the probes an evaluation scores: `preserved_sentences` takes ROME known
facts (or another of `PRESERVED_SOURCES`) and leaves out every prompt it is told to exclude.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from itertools import chain, zip_longest
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..models import families
from .edit import Edit, EditFactor
from .hooks import capture

if TYPE_CHECKING:
    from .resolve import KeySolve

log = logging.getLogger(__name__)


def _known_fact_sentences() -> list[tuple[str, str]]:
    from ..data.enrich import load_known_facts

    return [(f.probe.prompt, f"{f.probe.prompt} {f.probe.answer}") for f in load_known_facts()]


def _counterfact_neighbour_sentences() -> list[tuple[str, str]]:
    """CounterFact (ROME variant) training records' neighbourhood facts: true facts about other subjects."""
    from ..data.tasks import load_split

    return [(p.prompt, f"{p.prompt} {p.answer}") for r in load_split("counterfact-rome", "train") for p in r.locality]


def _interleaved(*sources) -> list[tuple[str, str]]:
    """One sentence of each source in turn, so that any prefix mixes them."""
    return [item for item in chain.from_iterable(zip_longest(*(source() for source in sources))) if item is not None]


# where preserved sentences come from: name -> (prompt, sentence) pairs, in the order they are taken
PRESERVED_SOURCES = {
    "known": _known_fact_sentences,
    "known+counterfact": lambda: _interleaved(_known_fact_sentences, _counterfact_neighbour_sentences),
}


def preserved_sentences(exclude: set[str], count: int = 300, source: str = "known") -> list[str]:
    """`count` full sentences ("prompt answer") from `PRESERVED_SOURCES[source]` (ROME known facts by default),
    none whose prompt is in `exclude`."""
    if source not in PRESERVED_SOURCES:
        raise ValueError(f"preserved_from must be one of {sorted(PRESERVED_SOURCES)}, got {source!r}")
    chosen = [sentence for prompt, sentence in PRESERVED_SOURCES[source]() if prompt not in exclude]
    if len(chosen) < count:
        log.warning("preserved keys: only %d sentences of %s left after excluding %d prompts", len(chosen), source,
                    len(exclude))
    return chosen[:count]


def collect_keys(model: nn.Module, tokenizer, weight_names: list[str], sentences: list[str]) -> dict[str, torch.Tensor]:
    """Per weight, the layer inputs of every token of `sentences` ([tokens, in], float64)."""
    return collect_keys_of_ids(model, weight_names, [tokenizer(sentence).input_ids for sentence in sentences])


@torch.no_grad()
def collect_keys_of_ids(model: nn.Module, weight_names: list[str], id_lists: list[list[int]]) -> dict[str, torch.Tensor]:
    """Per weight, the layer inputs of every token of each token-id list ([tokens, in], float64), under whatever
    edit the caller has active."""
    keys: dict[str, list[torch.Tensor]] = {name: [] for name in weight_names}
    device = families.device_of(model)
    for ids in id_lists:
        with capture(model, weight_names) as record:
            model(torch.tensor([list(ids)], device=device))
        for name in weight_names:
            keys[name].append(record["inputs"][name].reshape(-1, record["inputs"][name].shape[-1]).double().cpu())
    return {name: torch.cat(rows) for name, rows in keys.items()}


def dominant_basis(keys: torch.Tensor, energy: float) -> torch.Tensor:
    """Orthonormal columns spanning the top eigen-directions of keysᵀkeys that hold `energy` of its trace."""
    values, vectors = torch.linalg.eigh(keys.T @ keys)
    values, vectors = values.flip(0).clamp(min=0), vectors.flip(1)
    share = values.cumsum(0) / values.sum()
    rank = int((share < energy).sum()) + 1
    return vectors[:, :rank]


@dataclass
class KeyProjection:
    bases: dict[str, torch.Tensor]    # weight name -> V [in, r] (float64)
    max_scale: float = 10.0

    def __post_init__(self):
        if self.max_scale < 1:
            raise ValueError(f"max_scale must be >= 1, got {self.max_scale}")

    @classmethod
    def from_sentences(cls, model: nn.Module, tokenizer, weight_names: list[str], sentences: list[str],
                       energy: float = 0.8, max_scale: float = 10.0) -> "KeyProjection":
        if not 0 < energy < 1:
            raise ValueError(f"energy must be in (0, 1), got {energy}")
        if not sentences:
            raise ValueError("preserved-key projection needs at least one preserved sentence")
        keys = collect_keys(model, tokenizer, weight_names, sentences)
        bases = {name: dominant_basis(k, energy) for name, k in keys.items()}
        log.info("preserved keys: %d sentences; basis ranks %s", len(sentences),
                 {name.split(".")[-2]: int(v.shape[1]) for name, v in bases.items()})
        return cls(bases, max_scale)

    def _project(self, name: str, u: torch.Tensor) -> torch.Tensor:
        basis = self.bases.get(name)
        if basis is None:
            return u
        rows = u.double()
        kept = rows - (rows @ basis.to(rows.device)) @ basis.T.to(rows.device)
        scale = (rows.square().sum(-1) / kept.square().sum(-1).clamp(min=1e-30)).clamp(max=self.max_scale)
        return (kept * scale.unsqueeze(-1)).to(u.dtype)

    def apply(self, edit: Edit, inputs: dict | None = None, rows: torch.Tensor | None = None) -> Edit:
        """The edit with every row's ũ projected off the preserved keys' dominant subspace (and rescaled); `inputs`
        and `rows` (the edit's own layer inputs, which `resolve.KeySolve` reads) are not needed."""
        factors = {name: EditFactor(self._project(name, f.u), f.d, f.alpha) for name, f in edit.factors.items()}
        return Edit(factors, dict(edit.meta))


def update_norm(factor: EditFactor) -> torch.Tensor:
    """Per batch row, the Frobenius norm of α ũᵀδ̃ (from the rows' Gram matrices, never the dense update)."""
    u, d = factor.u.double(), factor.d.double()
    gram = (u @ u.transpose(-1, -2)) * (d @ d.transpose(-1, -2))
    return factor.alpha.double().abs() * gram.sum((-1, -2)).clamp(min=0).sqrt()


def cap_steps(factor: EditFactor, max_norm: float) -> torch.Tensor:
    """Per batch row, the step that brings ‖α ũᵀδ̃‖_F down to `max_norm` (float64; > 1 where it is below)."""
    return max_norm / update_norm(factor).clamp(min=1e-30)


@dataclass
class SequenceGuard:
    """What an `EditSequence` does to each new edit: re-solve it while the editor computes it (`resolve`, the
    sequence's earlier edits' keys as its prior), then project it, scale its step and cap its norm per weight."""

    scale: float = 1.0
    max_norm: float | None = None        # per edited weight, on ‖α ũᵀδ̃‖_F
    projection: KeyProjection | None = None
    resolve: "KeySolve | None" = None
    repair_every: int = 0                # every so many edits, repair the kept edits that now loop (0: never;
                                         # `sequence_repair.py`)

    def __post_init__(self):
        if not (self.scale > 0 and math.isfinite(self.scale)):
            raise ValueError(f"scale must be a finite number > 0, got {self.scale}")
        if self.max_norm is not None and not self.max_norm > 0:
            raise ValueError(f"max_norm must be > 0 (or None: no cap), got {self.max_norm}")
        if isinstance(self.repair_every, bool) or not isinstance(self.repair_every, int) or self.repair_every < 0:
            raise ValueError(f"repair_every must be a whole number >= 0 (0: no repair along the sequence), "
                             f"got {self.repair_every!r}")

    def apply(self, edit: Edit) -> Edit:
        if self.projection is not None:
            edit = self.projection.apply(edit)
        factors = {}
        for name, f in edit.factors.items():
            step = torch.full((f.u.shape[0],), self.scale, dtype=torch.float64, device=f.u.device)
            if self.max_norm is not None:
                step = torch.minimum(step, cap_steps(f, self.max_norm))
            factors[name] = EditFactor(f.u * step.to(f.u.dtype).view(-1, 1, 1), f.d, f.alpha)
        return Edit(factors, dict(edit.meta))

    def describe(self) -> dict:
        described = {"scale": self.scale, "max_norm": self.max_norm,
                     "projection": None if self.projection is None else
                     {n: int(v.shape[1]) for n, v in self.projection.bases.items()}}
        described |= {"repair_every": self.repair_every} if self.repair_every else {}
        return described | ({"resolve": self.resolve.describe()} if self.resolve is not None else {})
