"""Options of direction collection, in a module without torch: the command line builds its flags from
`CollectOptions` without loading the model stack."""
from __future__ import annotations

from dataclasses import dataclass

# token-row pooling of a [B, T, d] tensor with its [B, T, 1] gradient-row mask
POOLINGS = {
    "mean": lambda x, rows: (x * rows).sum(1) / rows.sum(1).clamp(min=1),
    "sum": lambda x, rows: (x * rows).sum(1),
    "last": lambda x, rows: x[list(range(x.shape[0])), rows.squeeze(-1).cumsum(1).argmax(1)],
}


@dataclass(frozen=True)
class CollectOptions:
    weight: str | None = None          # parameter name; None = up-projection of the last edited block
    pooling: str = "mean"
    normalise: bool = True
    n: int = 100                       # records per task
    instruction: str = "seen"          # for instruct editors; other editors get no instruction
    batch_size: int = 8
    kinds: tuple[str, ...] = ("u_tilde", "u_raw")  # ("delta_tilde",) alone: δ̃ has the output dimension

    def __post_init__(self):
        object.__setattr__(self, "kinds", tuple(self.kinds))
        if not self.kinds or not set(self.kinds) <= {"u_tilde", "u_raw", "delta_tilde"}:
            raise ValueError(f"kinds must be some of u_tilde, u_raw, delta_tilde, got {self.kinds}")
        if "delta_tilde" in self.kinds and len(self.kinds) > 1:
            raise ValueError("kinds: collect delta_tilde on its own (its dimension differs from u's)")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
