"""The fallback for model types outside the family registry: find the blocks, the MLP weights, the final
norm and the block call convention by inspecting the module tree.

- Blocks: the `nn.ModuleList` whose length is `config.num_hidden_layers`, all of one class.
- MLP weights of a block: its Linear / Conv1D modules outside attention, the up (and gate) projections
  (in = hidden size) and the down projection (out = hidden size, in = the up projection's width).
- Final norm: the norm module that is a direct child of the module holding the blocks.
- Path "captured": how the model calls its blocks (masks per layer, rotary position embeddings, positions)
  is recorded with forward pre-hooks during the model's own forward on a dummy sequence of the same
  length (batch 1: every recorded tensor broadcasts over the batch), and the blocks are then called with
  exactly those arguments. The split forward is checked against `model(ids).logits` once; if it differs
  (or a step fails), the path is "full-forward": the trunk is not split, every pass runs the whole model
  from its input embeddings and the logits flow where hidden states would (edits still apply through the
  hooks on the MLP modules, which work for any model).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import torch
from torch import nn

from .families import BlockInput, Family

log = logging.getLogger(__name__)

ATTENTION_WORDS = ("attn", "attention")
NORM_WORDS = ("norm", "ln_f")
_CACHE_ATTR = "_instructedit_family"
_EXTRA_ATTR = "_instructedit_block_calls"
_MAX_LENGTHS = 64  # recorded block calls kept per model (one per sequence length)


class DiscoveryError(ValueError):
    """The module tree did not show where the blocks or their MLP weights are."""


class _Stop(Exception):
    """Raised from a pre-hook to end a forward once what it needed was recorded."""


@dataclass(frozen=True)
class Linear:
    """A Linear or GPT-2 Conv1D module inside a block, with its logical (in, out) dimensions."""

    name: str
    in_features: int
    out_features: int
    conv1d: bool


def _linear(name: str, module: nn.Module) -> Linear | None:
    if isinstance(module, nn.Linear):
        return Linear(name, module.in_features, module.out_features, False)
    weight = getattr(module, "weight", None)
    if type(module).__name__ == "Conv1D" and isinstance(weight, torch.Tensor) and weight.dim() == 2:
        return Linear(name, weight.shape[0], weight.shape[1], True)
    return None


def _text_config(model: nn.Module):
    config = model.config
    return config.get_text_config() if hasattr(config, "get_text_config") else config


def find_blocks(model: nn.Module) -> str:
    """Dotted path of the repeated block list."""
    layers = getattr(_text_config(model), "num_hidden_layers", None)
    lists = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.ModuleList) and len(m) > 0]
    for name, blocks in lists:
        if len(blocks) == layers and len({type(b) for b in blocks}) == 1:
            return name
    seen = ", ".join(f"{n} ({len(m)})" for n, m in lists) or "none"
    raise DiscoveryError(f"found no block list: no nn.ModuleList of {layers} blocks of one class "
                         f"(config.num_hidden_layers); module lists: {seen}")


def _mlp_linears(block: nn.Module) -> list[Linear]:
    found = [_linear(n, m) for n, m in block.named_modules() if n]
    return [lin for lin in found if lin is not None
            and not any(word in part.lower() for part in lin.name.split(".") for word in ATTENTION_WORDS)]


def find_mlp(block: nn.Module, where: str, hidden: int) -> tuple[tuple[str, ...], bool]:
    """(MLP weight modules relative to the block: ups then down, conv1d) of one block."""
    linears = _mlp_linears(block)
    listing = ", ".join(f"{lin.name} ({lin.in_features} x {lin.out_features})" for lin in linears) or "none"
    ups = [lin for lin in linears if lin.in_features == hidden and lin.out_features != hidden]
    downs = [lin for lin in linears if lin.out_features == hidden and lin.in_features != hidden
             and any(up.out_features in (lin.in_features, 2 * lin.in_features) for up in ups)]
    if not downs:
        raise DiscoveryError(f"found no MLP down-projection (out = hidden size {hidden}) in block {where}; "
                             f"linear modules outside attention there: {listing}")
    down = downs[-1]
    parent = down.name.rpartition(".")[0]
    ups = [up for up in ups if up.name.rpartition(".")[0] == parent
           and up.out_features in (down.in_features, 2 * down.in_features)]
    if not ups:
        raise DiscoveryError(f"found no MLP up-projection (in = hidden size {hidden}) beside {where}.{down.name}; "
                             f"linear modules outside attention there: {listing}")
    if len({lin.conv1d for lin in (*ups, down)}) != 1:
        raise DiscoveryError(f"MLP of block {where} mixes Linear and Conv1D weights: {listing}")
    return tuple(lin.name for lin in (*ups, down)), down.conv1d


def find_final_norm(model: nn.Module, blocks: str) -> str:
    """The norm applied after the blocks: a norm-like direct child of the blocks' parent ('' if none)."""
    base_name = blocks.rpartition(".")[0]
    base = model.get_submodule(base_name) if base_name else model
    norms = [name for name, child in base.named_children()
             if any(word in (name + type(child).__name__).lower() for word in NORM_WORDS)]
    if not norms:
        return ""
    return f"{base_name}.{norms[-1]}" if base_name else norms[-1]


def discover(model: nn.Module, *, verify: bool = True) -> Family:
    """A Family for `model` from its module tree (path "captured", or "full-forward" if the split forward
    cannot be checked to match the model's own logits). Raises DiscoveryError naming what is missing."""
    config = _text_config(model)
    hidden = getattr(config, "hidden_size", None)
    blocks_path = find_blocks(model)
    blocks = model.get_submodule(blocks_path)
    found = [find_mlp(block, f"{blocks_path}.{i}", hidden) for i, block in enumerate(blocks)]
    if len(set(found)) != 1:
        raise DiscoveryError(f"blocks of {blocks_path} differ in their MLP weights: {sorted(set(found))}")
    editable, conv1d = found[0]
    if model.get_output_embeddings() is None:
        raise DiscoveryError(f"{type(model).__name__} has no output embeddings (LM head): not a causal LM")
    family = Family(name=getattr(config, "model_type", type(model).__name__), blocks=blocks_path,
                    editable=editable, conv1d=conv1d, embed=embed_captured,
                    final_norm=find_final_norm(model, blocks_path), block_extra=captured_extra,
                    up_module=editable[0], path="captured",
                    softcap=getattr(config, "final_logit_softcapping", None))
    return _checked(model, family) if verify else family


def _checked(model: nn.Module, family: Family) -> Family:
    """`family` if its split forward gives the model's logits, else its full-forward variant."""
    setattr(model, _CACHE_ATTR, family)
    vocab = model.get_input_embeddings().num_embeddings
    ids = torch.arange(min(8, vocab), device=next(model.parameters()).device).unsqueeze(0)
    try:
        with torch.no_grad():
            expected = model(input_ids=ids, use_cache=False).logits
            from .families import head, run_blocks

            state = run_blocks(model, embed_captured(model, ids), 0, 1)
            got = head(model, run_blocks(model, state, 1).hidden)
        error = float((got - expected).abs().max()) / (1.0 + float(expected.abs().max()))
    except (RuntimeError, TypeError, ValueError, IndexError, AttributeError) as err:
        error, reason = float("inf"), f"{type(err).__name__}: {err}"
    else:
        reason = f"relative logit difference {error:.2e}"
    if error < 1e-4:
        log.info("%s: discovered blocks %s, MLP %s; two-halves forward (captured block calls)",
                 family.name, family.blocks, family.editable)
        return family
    log.warning("%s: the split forward does not reproduce the model (%s); edits run full-model forwards",
                family.name, reason)
    return replace(family, path="full-forward", embed=embed_full, block_extra=lambda model, hidden: {})


def discovered_family(model: nn.Module, registry: tuple[str, ...] = ()) -> Family:
    """The discovered Family of `model`, computed once and cached on it."""
    cached = getattr(model, _CACHE_ATTR, None)
    if cached is not None:
        return cached
    try:
        family = discover(model)
    except DiscoveryError as err:
        model_type = getattr(getattr(model, "config", None), "model_type", None)
        raise DiscoveryError(f"model family {model_type!r} is not in the registry ({', '.join(registry)}) and "
                             f"discovery failed: {err}; add a Family entry to "
                             "instructedit.models.families.FAMILIES") from err
    setattr(model, _CACHE_ATTR, family)
    return family


# ---- path "captured": blocks called with the arguments the model's own forward gives them ------------
@dataclass(frozen=True)
class BlockCall:
    """How the model called one block, less its hidden state (positional `args[0]` or `hidden_key`)."""

    args: tuple
    kwargs: dict
    hidden_key: str | None


def _without_caches(values: dict) -> dict:
    from transformers.cache_utils import Cache

    return {k: None if isinstance(v, Cache) else v for k, v in values.items()}


def _record(calls: list, stop_after: int | None, hidden_out: list):
    def hook(module: nn.Module, args: tuple, kwargs: dict):
        if args:
            hidden_out.append(args[0])
            calls.append(BlockCall(tuple(args[1:]), _without_caches(kwargs), None))
        else:
            hidden_out.append(kwargs["hidden_states"])
            rest = {k: v for k, v in kwargs.items() if k != "hidden_states"}
            calls.append(BlockCall((), _without_caches(rest), "hidden_states"))
        if stop_after is not None and len(calls) >= stop_after:
            raise _Stop
    return hook


def _record_calls(model: nn.Module, input_ids: torch.Tensor, stop_after: int) -> tuple[list, list]:
    """(block calls, hidden states entering each block) of the model's forward on `input_ids`, ended
    right before block `stop_after - 1` would run."""
    blocks = model.get_submodule(model_family_blocks(model))
    calls, hidden = [], []
    handles = [block.register_forward_pre_hook(_record(calls, stop_after, hidden), with_kwargs=True)
               for block in blocks[:stop_after]]
    try:
        with torch.no_grad():
            model(input_ids=input_ids, use_cache=False)
    except _Stop:
        pass
    finally:
        for handle in handles:
            handle.remove()
    if len(calls) < stop_after:
        raise DiscoveryError(f"the model's forward called {len(calls)} of its {stop_after} blocks")
    return calls, hidden


def model_family_blocks(model: nn.Module) -> str:
    family = getattr(model, _CACHE_ATTR, None)
    return family.blocks if family is not None else find_blocks(model)


def captured_extra(model: nn.Module, hidden: torch.Tensor) -> dict:
    """The recorded block calls for sequences of hidden's length (batch 1, cached per length)."""
    store = model.__dict__.setdefault(_EXTRA_ATTR, {})
    key = (hidden.shape[1], str(hidden.device), hidden.dtype)
    if key not in store:
        if len(store) >= _MAX_LENGTHS:
            store.clear()
        n = len(model.get_submodule(model_family_blocks(model)))
        ids = torch.zeros(1, hidden.shape[1], dtype=torch.long, device=hidden.device)
        store[key] = tuple(_record_calls(model, ids, n)[0])
    return {"calls": store[key]}


def embed_captured(model: nn.Module, input_ids: torch.Tensor) -> BlockInput:
    """The hidden states entering block 0, as the model's own forward computes them."""
    _, hidden = _record_calls(model, input_ids, 1)
    return BlockInput(hidden[0], captured_extra(model, hidden[0]))


def run_captured(model: nn.Module, state: BlockInput, start: int, stop: int | None) -> BlockInput:
    blocks = model.get_submodule(model_family_blocks(model))
    calls = state.extra["calls"]
    hidden = state.hidden
    for index in range(start, len(blocks) if stop is None else stop):
        call = calls[index]
        if call.hidden_key is None:
            out = blocks[index](hidden, *call.args, **call.kwargs)
        else:
            out = blocks[index](*call.args, **{**call.kwargs, call.hidden_key: hidden})
        hidden = out[0] if isinstance(out, tuple) else out
    return BlockInput(hidden, state.extra)


# ---- path "full-forward": the whole model per pass, logits in place of hidden states ----------------
def embed_full(model: nn.Module, input_ids: torch.Tensor) -> BlockInput:
    return BlockInput(model.get_input_embeddings()(input_ids), {})


def run_full_forward(model: nn.Module, state: BlockInput, start: int, stop: int | None) -> BlockInput:
    """A trunk (start 0, stop before the last block) is deferred: the state stays the input embeddings;
    running to the top runs the whole model from them and returns its logits."""
    n = len(model.get_submodule(model_family_blocks(model)))
    if stop is not None and stop < n:
        if start != 0:
            raise ValueError(f"full-forward path ({model.config.model_type}): cannot run blocks [{start}, {stop})")
        return state
    logits = model(inputs_embeds=state.hidden, use_cache=False).logits
    return BlockInput(logits, state.extra)
