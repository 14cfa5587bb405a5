"""Permanent, thread-safe forward hooks on the edited modules.

One hook per edited module does two things, each only when the calling thread asked for it through a
context variable: it adds the active Edit's low-rank output delta (so an edit is applied without
touching the shared weights), and it records the module's input u and output (whose gradient is δ).
Threads that set neither see the plain base model.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator, Protocol

import torch
from torch import nn

_ACTIVE_EDIT: ContextVar["OutputDelta | None"] = ContextVar("instructedit_active_edit", default=None)
_CAPTURE: ContextVar["dict | None"] = ContextVar("instructedit_capture", default=None)
_INSTALL_LOCK = threading.Lock()
_HOOKED_ATTR = "_instructedit_hooked"


class OutputDelta(Protocol):
    def output_delta(self, name: str, x: torch.Tensor) -> torch.Tensor | None: ...

    @property
    def names(self) -> list[str]: ...


def module_name(weight_name: str) -> str:
    return weight_name.rsplit(".", 1)[0] if weight_name.endswith(".weight") else weight_name


def _make_hook(weight_name: str):
    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        edit = _ACTIVE_EDIT.get()
        if edit is not None:
            delta = edit.output_delta(weight_name, inputs[0])
            if delta is not None:
                output = output + delta
        capture = _CAPTURE.get()
        if capture is not None and weight_name in capture["names"]:
            capture["inputs"][weight_name] = inputs[0]
            capture["outputs"][weight_name] = output
        return output
    return hook


def install_hooks(model: nn.Module, weight_names: list[str]) -> None:
    """Register the hook on each named weight's module once (idempotent, thread-safe)."""
    with _INSTALL_LOCK:
        hooked = getattr(model, _HOOKED_ATTR, None)
        if hooked is None:
            hooked = set()
            setattr(model, _HOOKED_ATTR, hooked)
        for name in weight_names:
            if name not in hooked:
                model.get_submodule(module_name(name)).register_forward_hook(_make_hook(name))
                hooked.add(name)


class SumOfDeltas:
    """Output deltas added up (itself an OutputDelta)."""

    def __init__(self, *parts: OutputDelta):
        self.parts = parts

    @property
    def names(self) -> list[str]:
        return list(dict.fromkeys(n for p in self.parts for n in p.names))

    def output_delta(self, name: str, x: torch.Tensor) -> torch.Tensor | None:
        deltas = [d for d in (p.output_delta(name, x) for p in self.parts) if d is not None]
        return sum(deltas[1:], deltas[0]) if deltas else None


@contextmanager
def active_edit(model: nn.Module, edit: OutputDelta | None, stack: bool = False) -> Iterator[None]:
    """Run the model as edited by `edit` in this thread (or context) only; the weights stay untouched.

    `stack`: on top of the edit already active here (an editor that fits its edit on the model as the
    caller runs it, e.g. FT-L inside a sequence of edits), instead of in its place."""
    outer = _ACTIVE_EDIT.get()
    if stack and edit is not None and outer is not None:
        edit = SumOfDeltas(outer, edit)
    if edit is not None:
        install_hooks(model, edit.names)
    token = _ACTIVE_EDIT.set(edit)
    try:
        yield
    finally:
        _ACTIVE_EDIT.reset(token)


@contextmanager
def capture(model: nn.Module, weight_names: list[str]) -> Iterator[dict]:
    """Record inputs (u) and outputs of the named weights' modules during forwards in this context."""
    install_hooks(model, weight_names)
    record = {"names": set(weight_names), "inputs": {}, "outputs": {}}
    token = _CAPTURE.set(record)
    try:
        yield record
    finally:
        _CAPTURE.reset(token)
