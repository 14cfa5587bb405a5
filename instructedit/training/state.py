"""Optimizer state and trainer progress as safetensors + JSON (resumable, no pickle)."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from ..io import atomic_save_tensors, atomic_write_json

OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "trainer_state.json"


def save_optimizer(optimizer: torch.optim.Optimizer, directory: Path, progress: dict) -> None:
    state = optimizer.state_dict()
    tensors = {f"state.{idx}.{key}": value.detach().contiguous()
               for idx, slots in state["state"].items() for key, value in slots.items() if torch.is_tensor(value)}
    atomic_save_tensors(tensors or {"empty": torch.zeros(1)}, directory / OPTIMIZER_FILE)
    groups = [{k: v for k, v in group.items()} for group in state["param_groups"]]
    atomic_write_json(directory / STATE_FILE, {"param_groups": groups, **progress})


def load_optimizer(optimizer: torch.optim.Optimizer, directory: Path) -> dict:
    info = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
    tensors = load_file(str(directory / OPTIMIZER_FILE))
    slots: dict[int, dict] = {}
    for key, value in tensors.items():
        if key == "empty":
            continue
        _, idx, name = key.split(".", 2)
        slots.setdefault(int(idx), {})[name] = value
    optimizer.load_state_dict({"state": slots, "param_groups": info.pop("param_groups")})
    return info


def has_checkpoint(directory: Path) -> bool:
    return (directory / STATE_FILE).is_file() and (directory / OPTIMIZER_FILE).is_file()
