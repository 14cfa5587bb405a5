"""Faster CPU kernels for linear layers called on few rows: a cached generation step (one position per row),
training's and scoring's few predicted positions at the LM head.

On the 2-core CPU, `F.linear` (x·Wᵀ through MKL) reads a weight at 7-8 GB/s for 1-8 rows, a third of what the
memory gives. Measured per kind of call (bench/bench_generation.py times the model's own generation):

- without autograd, up to PACKED_ROWS rows: oneDNN's linear on a copy of the weight in its blocked layout
  (packed once per module, repacked when the weight changes in place): 1.3-2x faster at 1-64 rows
  (e.g. 8 rows of a 1536 x 576 projection 447 -> 326 µs; the 49,152 x 576 head at 2 rows 18.9 -> 5.5 ms);
- with autograd, up to `max_rows` rows: W·xᵀ (2-2.5x at 2-4 rows; the head up to SMALL_HEAD_ROWS, forward
  and backward, as `families.head` uses it in training);
- otherwise `F.linear`.

Values agree with `F.linear` to float rounding (tests/test_models.py). Only float32 on CPU is rerouted.
"""
from __future__ import annotations

import functools
import threading
import weakref

import torch
import torch.nn.functional as F
from torch import nn

SMALL_HEAD_ROWS = 64   # the LM head as W·hᵀ up to this many rows (with autograd)
SMALL_BLOCK_ROWS = 8   # a block's projection as W·xᵀ up to this many rows (with autograd)
PACKED_ROWS = 64       # oneDNN on the packed weight up to this many rows (without autograd)

# module -> (weight key, packed weight); outside the module, so copies and state dicts never carry it
_PACKED: "weakref.WeakKeyDictionary[nn.Linear, tuple]" = weakref.WeakKeyDictionary()
_PACK_LOCK = threading.Lock()


ONEDNN = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def _packed_weight(linear: nn.Linear) -> torch.Tensor:
    """The weight in oneDNN's layout, packed on first use and again after an in-place change of the weight."""
    weight = linear.weight
    key = (weight.data_ptr(), weight._version, tuple(weight.shape))
    cached = _PACKED.get(linear)
    if cached is None or cached[0] != key:
        with _PACK_LOCK:
            cached = _PACKED.get(linear)
            if cached is None or cached[0] != key:
                with torch.no_grad():
                    cached = (key, torch.ops.mkldnn._reorder_linear_weight(weight.detach(), 8))
                _PACKED[linear] = cached
    return cached[1]


def _needs_grad(linear: nn.Linear, x: torch.Tensor) -> bool:
    return torch.is_grad_enabled() and (x.requires_grad or linear.weight.requires_grad
                                        or (linear.bias is not None and linear.bias.requires_grad))


def small_rows_linear(linear: nn.Linear, x: torch.Tensor, max_rows: int = SMALL_HEAD_ROWS) -> torch.Tensor:
    """`linear(x)` through the fastest CPU kernel for its number of rows (see the module docstring)."""
    n_rows = x.numel() // x.shape[-1] if x.shape[-1] else 0
    if x.device.type != "cpu" or x.dtype != torch.float32 or linear.weight.dtype != torch.float32 or not n_rows:
        return F.linear(x, linear.weight, linear.bias)
    if n_rows <= PACKED_ROWS and ONEDNN and not _needs_grad(linear, x):
        return torch.ops.mkldnn._linear_pointwise(x.contiguous(), _packed_weight(linear), linear.bias, "none", [], "")
    if n_rows > max_rows:
        return F.linear(x, linear.weight, linear.bias)
    rows = x.reshape(-1, x.shape[-1])
    out = (linear.weight @ rows.T).T.contiguous()
    if linear.bias is not None:
        out = out + linear.bias
    return out.reshape(*x.shape[:-1], out.shape[-1])


def use_small_rows_linears(model: nn.Module) -> None:
    """The model's own forward (generation above all) takes every `nn.Linear` through `small_rows_linear`:
    the LM head with SMALL_HEAD_ROWS, the blocks' projections with SMALL_BLOCK_ROWS. Idempotent; a module
    whose forward is already replaced is left alone."""
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    for module in model.modules():
        if isinstance(module, nn.Linear) and "forward" not in vars(module):
            limit = SMALL_HEAD_ROWS if module is output else SMALL_BLOCK_ROWS
            module.forward = functools.partial(small_rows_linear, module, max_rows=limit)
