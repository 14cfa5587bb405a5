"""The gradient network: a low-rank residual MLP over the normalised (u, δ) pair, and its running normaliser."""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn


StatsGather = Callable[[torch.Tensor], torch.Tensor]  # a process's tensor [k] -> every process's, [P, k]


class RunningNorm(nn.Module):
    """Running mean/std per feature (Chan et al. parallel update, vectorised); frozen outside training."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("mean", torch.zeros(dim, dtype=torch.float32))
        self.register_buffer("m2", torch.zeros(dim, dtype=torch.float32))

    @property
    def ready(self) -> bool:
        return bool(self.count > 1)

    @torch.no_grad()
    def update(self, rows: torch.Tensor, gather: "StatsGather | None" = None) -> None:
        """Fold a batch of rows into the running statistics. With `gather` (data-parallel training), every
        process's batch statistics are gathered and folded in process order, so all processes hold the
        statistics of the global batch (Chan's update is exact, so this equals one update with all rows)."""
        rows = rows.detach().float().reshape(-1, rows.shape[-1])
        n = rows.shape[0]
        mean = rows.mean(0) if n else rows.new_zeros(rows.shape[-1])
        m2 = ((rows - mean) ** 2).sum(0)
        if gather is None:
            self._merge(float(n), mean, m2)
            return
        packed = gather(torch.cat([torch.tensor([float(n)], device=rows.device), mean, m2]))  # [P, 1 + 2·dim]
        dim = rows.shape[-1]
        for part in packed.reshape(-1, 1 + 2 * dim):
            self._merge(float(part[0]), part[1:1 + dim], part[1 + dim:])

    def _merge(self, n: float, batch_mean: torch.Tensor, batch_m2: torch.Tensor) -> None:
        if n == 0:
            return
        total = self.count + n
        delta = batch_mean - self.mean
        self.mean += delta * (n / total).float()
        self.m2 += batch_m2 + delta ** 2 * (self.count * n / total).float()
        self.count.copy_(total)

    def std(self) -> torch.Tensor:
        return (self.m2 / (self.count - 1).clamp(min=1).float()).sqrt().clamp(min=self.eps)

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        if not self.ready:
            raise RuntimeError("the editor's normalisation statistics are empty: collect statistics "
                               "(train, or run `Editor.warm_up`) before editing")
        return (rows - self.mean.to(rows.dtype)) / self.std().to(rows.dtype)


class LowRankLinear(nn.Module):
    """x -> x Vᵀ Uᵀ + b with V (rank x in) and U (out x rank)."""

    def __init__(self, in_dim: int, out_dim: int, rank: int, zero_init: bool):
        super().__init__()
        self.v = nn.Parameter(torch.empty(rank, in_dim))
        self.u = nn.Parameter(torch.zeros(out_dim, rank))
        self.bias = nn.Parameter(torch.zeros(out_dim))
        nn.init.xavier_uniform_(self.v)
        if not zero_init:
            nn.init.kaiming_uniform_(self.u, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x @ self.v.T) @ self.u.T + self.bias


class GradientNetwork(nn.Module):
    """Maps normalised [u; δ] through x + W_out relu(scale_ℓ · W_hid x + shift_ℓ) and splits (ũ, δ̃).

    Identity at initialisation (W_out's up-projection starts at zero). One network serves every edited
    weight of its shape; `mode` picks the learned per-layer scale and shift.
    """

    def __init__(self, in_dim: int, out_dim: int, rank: int, hidden_dim: int | None, n_modes: int):
        super().__init__()
        dim = in_dim + out_dim
        hidden = hidden_dim or dim
        self.in_dim, self.out_dim = in_dim, out_dim
        self.hidden = LowRankLinear(dim, hidden, rank, zero_init=False)
        self.out = LowRankLinear(hidden, dim, rank, zero_init=True)
        self.scale = nn.Parameter(torch.ones(n_modes, hidden))
        self.shift = nn.Parameter(torch.zeros(n_modes, hidden))

    def forward(self, u: torch.Tensor, d: torch.Tensor, mode: "int | torch.Tensor") -> tuple[torch.Tensor, torch.Tensor]:
        """`mode`: the layer index for every row (an int, or a LongTensor with one entry per row)."""
        x = torch.cat([u, d], dim=-1)
        h = torch.relu(self.hidden(x) * self.scale[mode] + self.shift[mode])
        y = x + self.out(h)
        return y[..., :self.in_dim], y[..., self.in_dim:]
