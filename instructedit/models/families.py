"""Model families: where the blocks are, which weights an editor may edit, how they are oriented.

Each family knows how to run the model in two halves, so the frozen trunk below the first edited block
can be computed once and the top blocks re-run per step: `embed`, `run_blocks`, `head`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .small_rows import small_rows_linear


@dataclass(frozen=True)
class Family:
    """How one architecture family is laid out.

    `editable` are the MLP weight modules relative to a block; `conv1d` says whether weights are
    stored (in x out) as GPT-2's Conv1D, else (out x in) as nn.Linear.
    """

    name: str
    blocks: str
    editable: tuple[str, ...]
    conv1d: bool
    embed: Callable[[nn.Module, torch.Tensor], "BlockInput"]
    final_norm: str
    block_extra: Callable[[nn.Module, torch.Tensor], dict] = lambda model, hidden: {}
    up_module: str = "mlp.up_proj"  # the MLP input projection: the default weight for direction analysis
    path: str = "registry"  # how blocks run and logits are made: a key of RUNNERS and HEADS
    softcap: float | None = None  # final logit soft-capping (Gemma 2): logits = cap * tanh(logits / cap)


@dataclass
class BlockInput:
    """The hidden state entering a block plus what the blocks need besides it (positions)."""

    hidden: torch.Tensor
    extra: dict


def _get(module: nn.Module, dotted: str) -> nn.Module:
    return module.get_submodule(dotted)


def _positions(length: int, device) -> dict:
    return {"position_ids": torch.arange(length, device=device).unsqueeze(0)}


def _hidden_positions(model: nn.Module, hidden: torch.Tensor) -> dict:
    return _positions(hidden.shape[1], hidden.device)


def _embed_llama(model: nn.Module, input_ids: torch.Tensor) -> BlockInput:
    return BlockInput(model.model.embed_tokens(input_ids), _positions(input_ids.shape[1], input_ids.device))


def _embed_gpt2(model: nn.Module, input_ids: torch.Tensor) -> BlockInput:
    base = model.transformer
    positions = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
    hidden = base.drop(base.wte(input_ids) + base.wpe(positions))
    return BlockInput(hidden, {})


LLAMA_MLP = ("mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")
_llama = dict(blocks="model.layers", editable=LLAMA_MLP, conv1d=False, embed=_embed_llama, final_norm="model.norm",
              block_extra=_hidden_positions)

FAMILIES: dict[str, Family] = {
    "gpt2": Family("gpt2", "transformer.h", ("mlp.c_fc", "mlp.c_proj"), True, _embed_gpt2, "transformer.ln_f",
                   up_module="mlp.c_fc"),
    "llama": Family("llama", **_llama),
    "mistral": Family("mistral", **_llama),
    "qwen2": Family("qwen2", **_llama),
    "qwen3": Family("qwen3", **_llama),
}


def family_of(model: nn.Module) -> Family:
    """The registry's Family for known model types, else one discovered from the module tree (cached on
    the model; see `discovery.py`)."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type in FAMILIES:
        return FAMILIES[model_type]
    from .discovery import discovered_family

    return discovered_family(model, registry=tuple(FAMILIES))


def blocks_of(model: nn.Module) -> nn.ModuleList:
    return _get(model, family_of(model).blocks)


def num_blocks(model: nn.Module) -> int:
    return len(blocks_of(model))


def editable_weight_names(model: nn.Module, last_k: int = 3, modules: tuple[str, ...] | None = None) -> list[str]:
    """Parameter names of the MLP weights in the last `last_k` blocks (relative to depth)."""
    fam = family_of(model)
    n = num_blocks(model)
    if not 1 <= last_k <= n:
        raise ValueError(f"edit_last_k={last_k} must be between 1 and the model's {n} blocks")
    modules = modules or fam.editable
    return [f"{fam.blocks}.{i}.{m}.weight" for i in range(n - last_k, n) for m in modules]


def block_index(name: str) -> int:
    """The block index inside a parameter name such as `model.layers.27.mlp.up_proj.weight`."""
    for part in name.split("."):
        if part.isdigit():
            return int(part)
    raise ValueError(f"no block index in weight name {name!r}")


def weight_in_out(model: nn.Module, name: str) -> tuple[int, int]:
    """(in_features, out_features) of an edited weight, whatever its storage orientation."""
    weight = model.get_parameter(name)
    rows, cols = weight.shape
    return (rows, cols) if family_of(model).conv1d else (cols, rows)


def weight_delta(model: nn.Module, u: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Σ_rows uᵀd stored like the weight: (in x out) for Conv1D, (out x in) for Linear."""
    u2, d2 = u.reshape(-1, u.shape[-1]), d.reshape(-1, d.shape[-1])
    return u2.T @ d2 if family_of(model).conv1d else d2.T @ u2


def embed(model: nn.Module, input_ids: torch.Tensor) -> BlockInput:
    return family_of(model).embed(model, input_ids)


def device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def state_from_hidden(model: nn.Module, hidden: torch.Tensor) -> BlockInput:
    """A BlockInput for cached hidden states [B, T, d] (adds what the family's blocks need, e.g. positions)."""
    return BlockInput(hidden, family_of(model).block_extra(model, hidden))


def run_blocks(model: nn.Module, state: BlockInput, start: int, stop: int | None = None) -> BlockInput:
    """Run blocks [start, stop) on a right-padded batch with causal attention (exact at real positions)."""
    return RUNNERS[family_of(model).path](model, state, start, stop)


def _run_registry(model: nn.Module, state: BlockInput, start: int, stop: int | None) -> BlockInput:
    """Blocks called as the registry's families expect: hidden, no mask (causal), rotary from positions."""
    blocks = blocks_of(model)
    hidden = state.hidden
    extra = dict(state.extra)
    if "position_ids" in extra:
        base = model.model
        extra["position_embeddings"] = base.rotary_emb(hidden, position_ids=extra["position_ids"])
    for block in blocks[start:stop]:
        out = block(hidden, attention_mask=None, **extra)
        hidden = out[0] if isinstance(out, tuple) else out
    return BlockInput(hidden, state.extra)


def head(model: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    """Final norm and LM head: logits for the given hidden states (any leading shape).

    Training and scoring need logits at a few positions only: on CPU the head then runs through the faster
    few-rows kernels of `small_rows.small_rows_linear` (values equal to float rounding)."""
    return HEADS[family_of(model).path](model, hidden)


def _norm_head(model: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    fam = family_of(model)
    normed = _get(model, fam.final_norm)(hidden) if fam.final_norm else hidden
    logits = _output_logits(model, normed)
    return fam.softcap * torch.tanh(logits / fam.softcap) if fam.softcap else logits


def _output_logits(model: nn.Module, normed: torch.Tensor) -> torch.Tensor:
    output = model.get_output_embeddings()
    return small_rows_linear(output, normed) if isinstance(output, nn.Linear) else output(normed)


def _logits_pass_through(model: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    """The full-forward path's 'hidden states' are already the model's logits."""
    return hidden


def _run_full_forward(model: nn.Module, state: BlockInput, start: int, stop: int | None) -> BlockInput:
    from .discovery import run_full_forward

    return run_full_forward(model, state, start, stop)


def _run_captured(model: nn.Module, state: BlockInput, start: int, stop: int | None) -> BlockInput:
    from .discovery import run_captured

    return run_captured(model, state, start, stop)


RUNNERS: dict[str, Callable[..., BlockInput]] = {
    "registry": _run_registry, "captured": _run_captured, "full-forward": _run_full_forward,
}
HEADS: dict[str, Callable[[nn.Module, torch.Tensor], torch.Tensor]] = {
    "registry": _norm_head, "captured": _norm_head, "full-forward": _logits_pass_through,
}
