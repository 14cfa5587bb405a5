"""Edit: a value holding per-weight low-rank factors (ũ, δ̃, α); never a copy of the model.

For an edited weight the update is  W' = W + α · Σ_rows ũᵀδ̃  stored in the weight's own orientation,
so a layer's output changes by  α · (x ũᵀ) δ̃  whatever the orientation. Factors have a leading batch
axis B: B = 1 is one edit (possibly of several records, rows concatenated); B > 1 holds one independent
edit per row of a forward batch (used in training to evaluate several edits in one pass).
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import torch
from safetensors.torch import load_file
from torch import nn

from ..io import atomic_save_tensors
from ..models.families import weight_delta
from .hooks import active_edit

EDIT_FORMAT_VERSION = 1


@dataclass
class EditFactor:
    u: torch.Tensor      # [B, N, in]   editor-transformed layer inputs ũ
    d: torch.Tensor      # [B, N, out]  editor-transformed output gradients δ̃
    alpha: torch.Tensor  # scalar step size

    def output_delta(self, x: torch.Tensor) -> torch.Tensor:
        """The output change for layer input x: [B, T, in], or [B*T, in] (batch-major) for models that
        flatten the batch before their MLP (OPT), with one edit row per batch row or one for all."""
        u, d = self.u.to(x.dtype), self.d.to(x.dtype)
        if x.dim() == 2:
            if u.shape[0] == 1:
                return self.alpha * (x @ u[0].T) @ d[0]
            if x.shape[0] % u.shape[0]:
                raise ValueError(f"{x.shape[0]} flattened rows do not split into the edit batch {u.shape[0]}")
            rows = x.reshape(u.shape[0], -1, x.shape[-1])
            return (self.alpha * torch.matmul(torch.matmul(rows, u.transpose(-1, -2)), d)).reshape(x.shape[0], -1)
        if u.shape[0] not in (1, x.shape[0]):
            raise ValueError(f"edit batch {u.shape[0]} does not match the forward batch {x.shape[0]}")
        return self.alpha * torch.matmul(torch.matmul(x, u.transpose(-1, -2)), d)


@dataclass
class Edit:
    factors: dict[str, EditFactor]
    meta: dict = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return list(self.factors)

    @property
    def batch_size(self) -> int:
        return next(iter(self.factors.values())).u.shape[0]

    def output_delta(self, name: str, x: torch.Tensor) -> torch.Tensor | None:
        factor = self.factors.get(name)
        return None if factor is None else factor.output_delta(x)

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for f in self.factors.values() for t in (f.u, f.d, f.alpha))

    def detach(self) -> "Edit":
        """The same value without autograd history; α copied, so training the editor on does not change it."""
        return Edit({n: EditFactor(f.u.detach(), f.d.detach(), f.alpha.detach().clone()) for n, f in self.factors.items()},
                    dict(self.meta))

    def select(self, index: int) -> "Edit":
        """The index-th edit of a batched edit, as a single (B = 1) edit; per-row meta (a list with one
        entry per row, e.g. the step search's `step_scales`) keeps that row's entry."""
        n = self.batch_size
        meta = {k: [v[index]] if isinstance(v, list) and len(v) == n else v for k, v in self.meta.items()}
        return Edit({name: EditFactor(f.u[index:index + 1], f.d[index:index + 1], f.alpha)
                     for name, f in self.factors.items()}, meta)

    def take(self, indices: torch.Tensor | list[int]) -> "Edit":
        """A batched edit whose row i is edit indices[i]: aligns edits with a forward batch of probes."""
        index = torch.as_tensor(indices, dtype=torch.long)
        return Edit({n: EditFactor(f.u[index], f.d[index], f.alpha) for n, f in self.factors.items()}, dict(self.meta))

    def scaled(self, scales: torch.Tensor) -> "Edit":
        """Row i's update multiplied by scales[i] ([B]; the step-size search's result)."""
        factors = {}
        for n, f in self.factors.items():
            factor = torch.as_tensor(scales, dtype=f.d.dtype, device=f.d.device).reshape(-1, 1, 1)
            factors[n] = EditFactor(f.u, f.d * factor, f.alpha)
        return Edit(factors, dict(self.meta))

    def merged(self) -> "Edit":
        """All B edits as one edit (rows concatenated): a batch edit of several records."""
        return Edit({n: EditFactor(f.u.reshape(1, -1, f.u.shape[-1]), f.d.reshape(1, -1, f.d.shape[-1]), f.alpha)
                     for n, f in self.factors.items()}, dict(self.meta))

    def compose(self, other: "Edit") -> "Edit":
        """The sum of two edits (α folded into δ̃): applying it equals applying both."""
        names = list(dict.fromkeys(self.names + other.names))
        factors = {}
        for name in names:
            parts = [e.merged().factors[name] for e in (self, other) if name in e.factors]
            u = torch.cat([p.u for p in parts], dim=1)
            d = torch.cat([p.d * p.alpha for p in parts], dim=1)
            factors[name] = EditFactor(u, d, torch.ones((), dtype=d.dtype, device=d.device))
        return Edit(factors, {"composed_of": [self.meta, other.meta]})

    @staticmethod
    def stack(edits: list["Edit | None"]) -> "Edit":
        """One batched edit whose row i is the single edit `edits[i]` (None: no edit), for a forward batch
        that mixes edits of other editors, layers or records with unedited rows. α is folded into δ̃ and
        shorter factors are padded with zero rows (they add nothing); a None row adds exactly zero."""
        present = [e for e in edits if e is not None]
        if not present:
            raise ValueError("stack needs at least one edit")
        if any(e.batch_size != 1 for e in present):
            raise ValueError(f"stack takes single edits (batch 1), got batches {sorted({e.batch_size for e in present})}")
        factors = {}
        for name in dict.fromkeys(n for e in present for n in e.names):
            parts = [None if e is None else e.factors.get(name) for e in edits]
            ref = next(p for p in parts if p is not None)
            width = max(p.u.shape[1] for p in parts if p is not None)
            u = ref.u.new_zeros(len(parts), width, ref.u.shape[-1])
            d = ref.d.new_zeros(len(parts), width, ref.d.shape[-1])
            for i, part in enumerate(parts):
                if part is not None:
                    u[i, :part.u.shape[1]] = part.u[0].detach()
                    d[i, :part.d.shape[1]] = (part.d[0] * part.alpha).detach()
            factors[name] = EditFactor(u, d, torch.ones((), dtype=d.dtype, device=d.device))
        return Edit(factors, {"stacked": [None if e is None else e.meta for e in edits]})

    def weight_deltas(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """The dense ΔW per weight, in the weight's orientation (one merged edit)."""
        merged = self.merged()
        return {n: (f.alpha * weight_delta(model, f.u[0], f.d[0])).to(model.get_parameter(n).dtype)
                for n, f in merged.factors.items()}

    @contextmanager
    def applied(self, model: nn.Module) -> Iterator[None]:
        """Functional path: the model behaves as edited inside this context, in this thread only."""
        with active_edit(model, self):
            yield

    @torch.no_grad()
    def apply_(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """In-place path: add ΔW to the weights; returns the originals for `revert_` (bit-exact)."""
        originals = {}
        for name, delta in self.weight_deltas(model).items():
            weight = model.get_parameter(name)
            originals[name] = weight.detach().clone()
            weight.add_(delta)
        return originals

    @staticmethod
    @torch.no_grad()
    def revert_(model: nn.Module, originals: dict[str, torch.Tensor]) -> None:
        for name, weight in originals.items():
            model.get_parameter(name).copy_(weight)

    def save(self, path: str | Path) -> None:
        """safetensors, written atomically; metadata as JSON in the header."""
        tensors = {}
        for i, (name, f) in enumerate(self.factors.items()):
            tensors.update({f"{i}.u": f.u.contiguous(), f"{i}.d": f.d.contiguous(), f"{i}.alpha": f.alpha.reshape(1)})
        header = {"format_version": str(EDIT_FORMAT_VERSION), "names": json.dumps(self.names),
                  "meta": json.dumps(self.meta, default=str)}
        atomic_save_tensors(tensors, Path(path), header)

    @classmethod
    def load(cls, path: str | Path) -> "Edit":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
        tensors = load_file(str(path))
        names = json.loads(header["names"])
        factors = {name: EditFactor(tensors[f"{i}.u"], tensors[f"{i}.d"], tensors[f"{i}.alpha"][0])
                   for i, name in enumerate(names)}
        return cls(factors, json.loads(header.get("meta", "{}")))
