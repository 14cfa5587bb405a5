"""TrainConfig: a typed, validated training configuration; YAML in, `--set key=value` overrides."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import get_type_hints

import yaml

from ..data.tasks import SPLITS
from ..editor.editor import EditorConfig
from ..editor.files import CONFIG_FILE
from ..evaluation.schema import LOCALITY_GROUPS

LOSS_INPUTS = ("prompt", "rephrase")


@dataclass
class TrainConfig:
    name: str = "instructedit"
    model: str = "smollm2-135m"
    editor: EditorConfig = field(default_factory=EditorConfig)
    task_weights: dict[str, float] | None = None     # sampling mix; None = every task equally likely
    train_files: dict[str, str] = field(default_factory=dict)  # task -> file overriding the registry
    max_train_records: int | None = 4000              # per task, after the validation split is carved
    val_records: int = 50                             # per task, carved (seeded) from train
    instruction_set: str | None = None                # JSON {task: [10 descriptions]} replacing the catalog
    steps: int = 1500
    edits_per_step: int = 4
    lr: float = 1e-4
    alpha_lr: float = 1e-5
    c_edit: float = 0.1
    c_loc: float = 1.0
    c_cont: float = 0.0                               # KL on the base model's continuation after the target
    c_plain: float = 0.0                              # NLL of the target on the plain prompt (no instruction)
    continuation_tokens: int = 8                      # how many tokens of that continuation
    locality_groups: tuple[str, ...] = ()             # KL on one probe of each group; () = the first probe
    sequence_length: int = 1                          # edits per chain: step k edits the model as edited by the
                                                      # chain's earlier steps (RLEdit-style; `chain.py`); 1: none
    c_retain: float = 0.0                             # NLL of the chain's earlier edits' targets after the new edit
    retain_probes: int = 2                            # how many earlier edits of its chain each edit is checked on
    init_from: str | None = None                      # an editor folder to start from (same architecture), e.g. a
                                                      # shipped editor trained further on chains
    grad_clip: float = 100.0
    loss_input: str = "prompt"                        # "rephrase" = MEND's original choice (ablation)
    norm_warmup_batches: int = 8
    trunk_cache: bool = True
    trunk_store: bool = True                          # keep trunk states on disk, shared by every editor
    eval_every: int = 250                             # validate, keep the best, save `last`
    save_every: int = 50                              # save `last` (resume point) without validating
    log_every: int = 10
    max_tokens: int = 256
    seed: int = 0
    out_dir: str = "runs/instructedit"

    def __post_init__(self):
        if isinstance(self.editor, dict):
            self.editor = EditorConfig(**self.editor)
        for task in self.editor.tasks:
            if task not in SPLITS:
                raise ValueError(f"editor.tasks: unknown task {task!r}; expected some of {', '.join(SPLITS)}")
        if self.editor.mode == "single-task" and len(self.editor.tasks) != 1:
            raise ValueError(f"editor.mode single-task needs exactly one task, got {list(self.editor.tasks)}")
        if self.task_weights is not None:
            unknown = set(self.task_weights) - set(self.editor.tasks)
            if unknown or any(w < 0 for w in self.task_weights.values()) or sum(self.task_weights.values()) <= 0:
                raise ValueError("task_weights must give non-negative weights (not all zero) to the editor's tasks")
        if self.loss_input not in LOSS_INPUTS:
            raise ValueError(f"loss_input must be one of {LOSS_INPUTS}, got {self.loss_input!r}")
        for name in ("steps", "edits_per_step", "sequence_length", "retain_probes", "val_records", "eval_every",
                     "save_every", "log_every", "max_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("lr", "alpha_lr", "grad_clip"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("c_edit", "c_loc", "c_cont", "c_plain", "c_retain"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.c_retain > 0 and self.sequence_length < 2:
            raise ValueError("c_retain needs sequence_length >= 2: it scores a chain's earlier edits")
        length = self.sequence_length
        if length > 1 and (self.save_every % length or self.eval_every % length):
            raise ValueError(f"save_every ({self.save_every}) and eval_every ({self.eval_every}) must be multiples of "
                             f"sequence_length ({self.sequence_length}): every resume point starts a chain")
        if self.init_from is not None:
            check_init_from(self.init_from, self.editor)
        if self.continuation_tokens < 1:
            raise ValueError(f"continuation_tokens must be >= 1, got {self.continuation_tokens}")
        self.locality_groups = tuple(self.locality_groups)
        unknown = set(self.locality_groups) - set(LOCALITY_GROUPS.values())
        if unknown:
            raise ValueError(f"locality_groups: unknown {sorted(unknown)}; expected some of "
                             f"{', '.join(dict.fromkeys(LOCALITY_GROUPS.values()))}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: list[str] | None = None) -> "TrainConfig":
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a training config must be a YAML mapping")
        return cls.from_dict(apply_overrides(data, overrides or []))

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown config key(s) {sorted(unknown)}; known keys: {sorted(known)}")
        editor_known = {f.name for f in fields(EditorConfig)}
        editor_unknown = set(data.get("editor") or {}) - editor_known
        if editor_unknown:
            raise ValueError(f"unknown editor key(s) {sorted(editor_unknown)}; known: {sorted(editor_known)}")
        return cls(**_coerce_numbers(cls, data))


ARCHITECTURE_FIELDS = ("edit_last_k", "modules", "rank", "hidden_dim", "mode")


def check_init_from(directory: str, editor: EditorConfig) -> None:
    """`init_from` names an editor folder whose architecture is the configured one (read before any model load)."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise ValueError(f"init_from: {directory} is not an editor folder (it needs {CONFIG_FILE}); give the folder "
                         f"of a trained editor, e.g. assets/editors/instructedit")
    saved = json.loads(path.read_text(encoding="utf-8")).get("editor", {})
    for name in ARCHITECTURE_FIELDS:
        mine, theirs = getattr(editor, name), saved.get(name)
        if mine != (tuple(theirs) if isinstance(theirs, list) else theirs):  # JSON lists, the config's tuples
            raise ValueError(f"init_from: {directory} has editor.{name} = {theirs!r}, this config {mine!r}; "
                             f"set editor.{name} to match or start from another editor")


def _coerce_numbers(cls, data: dict) -> dict:
    """YAML 1.1 reads `3e-4` as a string: convert such values for fields declared float or int."""
    hints = get_type_hints(cls)
    out = dict(data)
    for key, value in data.items():
        if isinstance(value, str) and hints.get(key) in (float, int):
            try:
                out[key] = hints[key](float(value)) if hints[key] is int else float(value)
            except ValueError:
                raise ValueError(f"{key} must be a number, got {value!r}") from None
    return out


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """`key=value` or `editor.rank=64`; values are parsed as YAML (numbers, lists, null)."""
    data = dict(data)
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"--set {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw)
        target = data
        *parents, leaf = key.strip().split(".")
        for parent in parents:
            target[parent] = dict(target.get(parent) or {})
            target = target[parent]
        target[leaf] = value
    return data
