"""The re-solved edit (issue #14): each MEND edit re-solved against the keys it should leave alone.

MEND's edit of one weight is ΔW = α Σ_r ũ_rᵀ δ̃_r (a layer input x gets the output delta x ΔW). It changes the
output of every input, the keys of earlier edits and of text the edit should not touch included, and edits made
one after another add up along the directions those keys share. AlphaEdit and MEMIT solve their update under such
a constraint; MEND's update comes from a network, but it can be re-solved afterwards: keep its effect on the
edit's own keys K (the layer inputs at the edited positions, [N, in]) and pay for any effect on other keys,

    ΔW' = argmin ‖K ΔW' - K ΔW‖² + tr(ΔW'ᵀ C ΔW')  =  (KᵀK + C)⁻¹ KᵀK ΔW  =  A ΔW,

    C = P + λ·N·C0 + ε·tr(KᵀK)/in·I,

with P the Gram matrix of every position of a sequence's earlier edits (their keys taken on the model as edited,
after each edit; `KeyMemory`; times `prior_weight` where earlier edits should weigh more than one position each),
C0 the mean k kᵀ of the layer inputs of preserved sentences (known facts, `guards.preserved_sentences`: never a
probe an evaluation scores), λ what one preserved position weighs against one edit position, ε a small ridge.
With `instruction_weight` w, C also holds λ·N·w·I0: I0 the sum, over the distinct instructions the sequence's
edits are wrapped in (the edit's own included: the text before the record's prompt), of each one's mean k kᵀ on
the base model (`InstructionKeys`, collected once per text), so that the instruction every wrapped prompt of a
task shares is not what a sequence of that task's edits moves. In the factored form every row becomes ũ_r Aᵀ, so
the edit stays low-rank, and the step search (`step_search.py`) scales the re-solved edit like any other (it is
weaker along shared directions).
`max_norm` caps each re-solved update's norm per weight before the search, so that the search checks the edit as
it will be kept (a `SequenceGuard.max_norm` acts after the search and may cut an edit the search had just held).

With C Cholesky-factored, A = X M⁻¹ K with X = C⁻¹Kᵀ and M = I + K X (Woodbury): one factorisation of the
in x in matrix C per weight and edit and N right-hand sides, instead of a dense solve with in right-hand sides.
"""
from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from .edit import Edit, EditFactor
from .guards import cap_steps, collect_keys

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeySolve:
    """Re-solve every edit against preserved keys (and a sequence's earlier edits, `prior`)."""

    preserved: dict[str, torch.Tensor]            # weight name -> C0 [in, in] (float64, mean k kᵀ)
    weight: float = 1.0                            # λ: one preserved position against one edit position
    ridge: float = 1e-3                            # ε, relative to the edit keys' mean energy per dimension
    prior: dict[str, torch.Tensor] | None = None   # weight name -> P [in, in] (float64), earlier edits' keys
    max_norm: float | None = None                  # cap of the re-solved ‖α ũᵀδ̃‖_F per weight, pre-search
    prior_weight: float = 1.0                      # what one earlier edit's position weighs in C (P x this)
    instruction_weight: float = 0.0                # w: one instruction position against one preserved position
    instruction_keys: "InstructionKeys | None" = field(default=None, compare=False, repr=False)
    instructions: dict[str, torch.Tensor] | None = None  # weight name -> I0 [in, in] of this edit's instructions

    def __post_init__(self):
        if not (self.weight >= 0 and math.isfinite(self.weight)):
            raise ValueError(f"weight (λ) must be a finite number >= 0, got {self.weight}")
        if not (self.ridge > 0 and math.isfinite(self.ridge)):
            raise ValueError(f"ridge (ε) must be a finite number > 0, got {self.ridge}")
        if not (self.prior_weight >= 0 and math.isfinite(self.prior_weight)):
            raise ValueError(f"prior_weight must be a finite number >= 0, got {self.prior_weight}")
        if self.max_norm is not None and not self.max_norm > 0:
            raise ValueError(f"max_norm must be > 0 (or None: no cap), got {self.max_norm}")
        if not (self.instruction_weight >= 0 and math.isfinite(self.instruction_weight)):
            raise ValueError(f"instruction_weight must be a finite number >= 0, got {self.instruction_weight}")
        if self.instruction_weight and self.instruction_keys is None:
            raise ValueError("instruction_weight needs instruction_keys (the InstructionKeys that collect them)")

    @classmethod
    def from_sentences(cls, model: nn.Module, tokenizer, weight_names: list[str], sentences: list[str],
                       weight: float = 1.0, ridge: float = 1e-3, max_norm: float | None = None,
                       prior_weight: float = 1.0) -> "KeySolve":
        if not sentences:
            raise ValueError("the re-solved edit needs at least one preserved sentence")
        keys = collect_keys(model, tokenizer, weight_names, sentences)
        log.info("re-solved edit: preserved keys of %d sentences (%d positions)", len(sentences),
                 len(next(iter(keys.values()))))
        return cls({name: k.T @ k / len(k) for name, k in keys.items()}, weight, ridge, max_norm=max_norm,
                   prior_weight=prior_weight)

    def with_instructions(self, texts: list[str]) -> "KeySolve":
        """The solve for an edit whose sequence's edits are wrapped in the instructions `texts` (the edit's own
        included): I0 = the sum of the distinct texts' mean k kᵀ. Unchanged without `instruction_weight`."""
        if not self.instruction_weight:
            return self
        return replace(self, instructions=self.instruction_keys.gram(texts) if texts else None)

    def with_prior(self, prior: dict[str, torch.Tensor] | None) -> "KeySolve":
        return replace(self, prior=prior)

    def cost(self, name: str, keys: torch.Tensor) -> torch.Tensor:
        """C for one weight and one edit's keys K [N, in] (float64)."""
        n_in = keys.shape[-1]
        energy = float(keys.square().sum()) / n_in
        cost = torch.eye(n_in, dtype=torch.float64, device=keys.device) * (self.ridge * max(energy, 1e-12))
        if name in self.preserved and self.weight:
            cost = cost + self.preserved[name].to(keys.device) * (self.weight * len(keys))
        if self.prior is not None and name in self.prior and self.prior_weight:
            cost = cost + self.prior[name].to(keys.device) * self.prior_weight
        if self.instructions is not None and name in self.instructions:
            cost = cost + self.instructions[name].to(keys.device) * (self.weight * len(keys) * self.instruction_weight)
        return cost

    def resolve_rows(self, name: str, u: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """u Aᵀ for rows u [R, in] of one edit whose own keys are K [N, in]; u unchanged when N = 0."""
        if not len(keys):
            return u
        k = keys.double()
        factor = torch.linalg.cholesky(self.cost(name, k))
        x = torch.cholesky_solve(k.T, factor)                                 # C⁻¹Kᵀ [in, N]
        m = torch.eye(len(k), dtype=torch.float64, device=k.device) + k @ x   # I + K C⁻¹Kᵀ [N, N]
        return (torch.linalg.solve(m, k @ u.double().T).T @ x.T).to(u.dtype)  # (u Kᵀ) M⁻¹ Xᵀ

    def apply(self, edit: Edit, inputs: dict | None = None, rows: torch.Tensor | None = None) -> Edit:
        """The edit with each record's rows re-solved on its own keys: `inputs[name]` [B, T, in] (the layer
        inputs the edit was computed from) at the positions `rows` [B, T] marks."""
        if inputs is None or rows is None:
            raise ValueError("the re-solved edit needs the layer inputs the edit was computed from (inputs, rows)")
        factors = {}
        for name, f in edit.factors.items():
            u = torch.stack([self.resolve_rows(name, f.u[b], inputs[name][b][rows[b]])
                             for b in range(f.u.shape[0])]) if name in inputs else f.u
            factors[name] = self._capped(EditFactor(u, f.d, f.alpha))
        return Edit(factors, dict(edit.meta))

    def _capped(self, factor: EditFactor) -> EditFactor:
        """The factor with each row's update norm at most `max_norm` (so the step search scales a capped edit)."""
        if self.max_norm is None:
            return factor
        step = cap_steps(factor, self.max_norm).clamp(max=1.0)
        return EditFactor(factor.u * step.to(factor.u.dtype).view(-1, 1, 1), factor.d, factor.alpha)

    def describe(self) -> dict:
        described = {"weight": self.weight, "ridge": self.ridge, "prior": self.prior is not None}
        described |= {"prior_weight": self.prior_weight} if self.prior_weight != 1.0 else {}
        described |= {"instruction_weight": self.instruction_weight} if self.instruction_weight else {}
        return described | ({"max_norm": self.max_norm} if self.max_norm is not None else {})


class InstructionKeys:
    """The second moment of each instruction text's layer inputs on the base model, collected once per text (a
    session or sequence wraps its edits in a few instructions; one forward of a ~30-token text each)."""

    def __init__(self, model: nn.Module, tokenizer, weight_names: list[str]):
        self.model, self.tokenizer, self.weight_names = model, tokenizer, list(weight_names)
        self._grams: dict[str, dict[str, torch.Tensor]] = {}
        self._lock = threading.Lock()

    def gram(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """Per weight, the sum over the distinct `texts` of each one's mean k kᵀ (float64)."""
        total: dict[str, torch.Tensor] = {}
        for text in dict.fromkeys(texts):
            for name, g in self._gram_of(text).items():
                total[name] = total[name] + g if name in total else g.clone()
        return total

    def _gram_of(self, text: str) -> dict[str, torch.Tensor]:
        with self._lock:
            if text not in self._grams:
                keys = collect_keys(self.model, self.tokenizer, self.weight_names, [text])
                self._grams[text] = {name: k.T @ k / len(k) for name, k in keys.items()}
            return self._grams[text]


class KeyMemory:
    """The keys of a sequence's edits, for the next edit's prior P (`KeySolve.prior`).

    Each edit's keys (every position of its text, [P, in] per weight) are kept while it can be undone, so undo is
    exact: P is recomputed from what is kept. A sealed edit's keys are added once to a float64 sum and dropped.
    The instructions each edit was wrapped in are kept beside its keys (`instructions`: those of every edit not
    undone, sealed ones included)."""

    def __init__(self):
        self._sealed: dict[str, torch.Tensor] = {}
        self._open: dict[int, dict[str, torch.Tensor]] = {}
        self._gram: dict[str, torch.Tensor] | None = None
        self._texts: dict[int, tuple[str, ...]] = {}

    def add(self, index: int, keys: dict[str, torch.Tensor], instructions: tuple[str, ...] = ()) -> None:
        self._texts[index] = tuple(instructions)
        self._open[index] = {name: k.detach().double().cpu() for name, k in keys.items()}
        if self._gram is not None:
            for name, k in self._open[index].items():
                self._gram[name] = self._gram.get(name, 0) + k.T @ k

    def seal(self, index: int) -> None:
        for name, k in self._open.pop(index, {}).items():
            self._sealed[name] = self._sealed.get(name, 0) + k.T @ k

    def drop(self, index: int) -> None:
        self._texts.pop(index, None)
        if self._open.pop(index, None) is not None:
            self._gram = None

    def instructions(self) -> list[str]:
        """The distinct instruction texts of the kept edits (sealed ones included), in order."""
        return list(dict.fromkeys(text for texts in self._texts.values() for text in texts))

    def gram(self) -> dict[str, torch.Tensor] | None:
        """P per weight: the sealed sum plus the Gram matrix of every open edit's keys (None: no edit yet)."""
        if self._gram is None:
            gram = {name: g.clone() for name, g in self._sealed.items()}
            for keys in self._open.values():
                for name, k in keys.items():
                    gram[name] = gram.get(name, 0) + k.T @ k
            self._gram = gram
        return self._gram or None
