"""Editor: config + gradient networks + normalisers + α; `edit(model, batch) -> Edit`; save and load."""
from __future__ import annotations

import copy
import json
import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch import nn

from ..io import atomic_save_tensors, atomic_write_json
from ..models import families
from ..models.loading import fingerprint
from ..tokenize import Batch
from .contract import EditorContract
from .edit import Edit, EditFactor
from .forward import per_record_nll, predicted_logits, top_hidden, trunk
from .hooks import capture
from .network import GradientNetwork, RunningNorm
from .repair import DEFAULT_SCALES as REPAIR_SCALES, repair_loops, validate_repair
from .step_search import RideAlong, search_step, validate_scales
from .files import CONFIG_FILE, WEIGHTS_FILE

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1
MODES = ("single-task", "multi-task", "instruct")
# the settings an editor can change without retraining
EDIT_TIME_SETTINGS = ("step_scales", "step_fallback", "repair_tokens", "repair_scales", "repair_stop")
REFUSED_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


@dataclass
class EditorConfig:
    """The editor's architecture: which weights it edits and the network's size."""

    edit_last_k: int = 3
    modules: tuple[str, ...] | None = None
    rank: int = 256
    hidden_dim: int | None = None
    alpha_init: float = -1e-4
    mode: str = "instruct"
    tasks: tuple[str, ...] = ("counterfact", "recent", "convsent")
    step_scales: tuple[float, ...] = ()  # edit-time step-size search (`step_search.py`); empty: the learned α
    step_fallback: float = 1.0           # the step multiplier when no searched scale makes the target greedy
    repair_tokens: int = 0               # loop repair after the search (`repair.py`): base tokens learned; 0: off
    repair_scales: tuple[float, ...] = REPAIR_SCALES  # the repair's step multipliers, smallest clean one taken
    repair_stop: bool = False            # a loop the base model's words do not mend: end the text after the target

    def __post_init__(self):
        if self.edit_last_k < 1:
            raise ValueError(f"edit_last_k must be >= 1, got {self.edit_last_k}")
        if self.rank < 1:
            raise ValueError(f"rank must be >= 1, got {self.rank}")
        if self.hidden_dim is not None and self.hidden_dim < 1:
            raise ValueError(f"hidden_dim must be >= 1 or null, got {self.hidden_dim}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.modules is not None:
            self.modules = tuple(self.modules)
        self.tasks = tuple(self.tasks)
        self.step_scales = validate_scales(self.step_scales)
        if not self.step_fallback > 0:
            raise ValueError(f"step_fallback must be > 0, got {self.step_fallback}")
        self.repair_scales = validate_repair(self.repair_tokens, self.repair_scales)
        if self.repair_tokens and not self.step_scales:
            raise ValueError("repair_tokens needs step_scales: the loop repair works on the step search's result")
        if self.repair_stop and not self.repair_tokens:
            raise ValueError("repair_stop needs repair_tokens > 0: it is the loop repair's second try")

    @property
    def uses_instructions(self) -> bool:
        return self.mode == "instruct"


def _batched(t: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """A captured layer tensor as [B, T, *]: models that flatten the batch before their MLP (OPT) give
    [B*T, *] (batch-major)."""
    return t.reshape(*shape, t.shape[-1]) if t.dim() == 2 else t


def _key(name: str) -> str:
    return name.replace(".", "__")


def _unpack(values: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Packed rows [N, k] back to [B, T, k] with zeros where `rows` [B, T] is False (differentiable)."""
    out = values.new_zeros(*rows.shape, values.shape[-1])
    return out.masked_scatter(rows.unsqueeze(-1), values)


class Editor(nn.Module, EditorContract):
    """A MEND editor for one model. Stateless at edit time: `edit` returns an Edit value."""

    def __init__(self, model: nn.Module, config: EditorConfig):
        super().__init__()
        self.config = config
        self.weight_names = families.editable_weight_names(model, config.edit_last_k, config.modules)
        self.shapes = {n: families.weight_in_out(model, n) for n in self.weight_names}
        self.first_block = min(families.block_index(n) for n in self.weight_names)
        by_shape: dict[str, list[str]] = {}
        for name, (i, o) in self.shapes.items():
            by_shape.setdefault(f"{i}x{o}", []).append(name)
        self.by_shape = by_shape
        self.mode_of = {n: names.index(n) for names in by_shape.values() for n in names}
        self.shape_key = {n: f"{self.shapes[n][0]}x{self.shapes[n][1]}" for n in self.weight_names}
        self.networks = nn.ModuleDict({
            key: GradientNetwork(*self.shapes[names[0]], config.rank, config.hidden_dim, len(names))
            for key, names in by_shape.items()})
        self.norms = nn.ModuleDict({_key(n): RunningNorm(sum(self.shapes[n])) for n in self.weight_names})
        self.alphas = nn.ParameterDict({_key(n): nn.Parameter(torch.tensor(config.alpha_init)) for n in self.weight_names})
        self.model_fingerprint = ""
        self.model_spec = getattr(model.config, "instructedit_spec", "")
        self.meta: dict = {}
        self.stats_gather = None  # data-parallel training: RunningNorm updates see every process's batch
        self.projection = None    # guards.KeyProjection / resolve.KeySolve applied to every edit and repair, or None

    @property
    def uses_instructions(self) -> bool:
        return self.config.uses_instructions

    # ---- the edit -------------------------------------------------------------------------------
    def capture_grads(self, model: nn.Module, batch: Batch, state=None) -> tuple[dict, dict, torch.Tensor]:
        """Layer inputs u and output gradients δ of the edit loss for every edited weight ([B, T, *])."""
        batch = batch.to(families.device_of(model))
        state = state if state is not None else trunk(model, batch.input_ids, self.first_block)
        state = families.BlockInput(state.hidden.detach().requires_grad_(True), state.extra)
        with torch.enable_grad(), capture(model, self.weight_names) as record:
            hidden = top_hidden(model, state, self.first_block)
            logits, targets, rows = predicted_logits(model, hidden, batch)
            loss = per_record_nll(logits, targets, rows, len(batch)).sum()
            outputs = [record["outputs"][n] for n in self.weight_names]
            grads = torch.autograd.grad(loss, outputs)
        shape = tuple(batch.input_ids.shape)
        inputs = {n: _batched(record["inputs"][n].detach(), shape) for n in self.weight_names}
        return inputs, {n: _batched(g, shape) for n, g in zip(self.weight_names, grads)}, loss.detach()

    def transform(self, u: torch.Tensor, d: torch.Tensor, rows: torch.Tensor, name: str,
                  update_stats: bool = False) -> EditFactor:
        """Normalise (u, δ) of one edited weight, run its shape's network; rows without gradient stay zero."""
        return self.transform_all({name: u}, {name: d}, rows, update_stats)[name]

    def transform_all(self, inputs: dict, grads: dict, rows: torch.Tensor, update_stats: bool = False) -> dict:
        """EditFactors for every weight in `inputs` ([B, T, *] each; `rows` [B, T] marks the rows that carry
        gradient). Only those rows go through the networks, and all weights of one shape go through their
        shared network in one call (each row with its layer's scale and shift): the network's weights are
        read once per shape instead of once per layer."""
        factors = {}
        for key, names in self.by_shape.items():
            names = [n for n in names if n in inputs]
            if not names:
                continue
            packed, modes = [], []
            for n in names:
                pair = torch.cat([inputs[n], grads[n]], dim=-1)[rows]  # [N, in + out]
                if update_stats:
                    self.norms[_key(n)].update(pair, self.stats_gather)
                packed.append(self.norms[_key(n)](pair))
                modes.append(torch.full((len(pair),), self.mode_of[n], dtype=torch.long, device=pair.device))
            in_dim = self.shapes[names[0]][0]
            x = torch.cat(packed)
            u_t, d_t = self.networks[key](x[:, :in_dim], x[:, in_dim:], torch.cat(modes))
            for n, u_rows, d_rows in zip(names, u_t.split(len(packed[0])), d_t.split(len(packed[0]))):
                factors[n] = EditFactor(_unpack(u_rows, rows), _unpack(d_rows, rows), self.alphas[_key(n)])
        return factors

    def edit(self, model: nn.Module, batch: Batch, state=None, update_stats: bool = False,
             search: bool = True, ride: RideAlong | None = None) -> Edit:
        """One independent edit per record of `batch` (B = len(batch)); `.merged()` makes a batch edit.

        In eval mode with `config.step_scales`, each edit's step is searched on its own request
        (`step_search.py`) unless `search` is False; training (train mode) and the trainer's validation
        (`search=False`) use the learned α. `ride`: prompts continued in the search's first check generation
        under the step it settles on (`step_search.RideAlong`; rows the loop repair changes are dropped)."""
        batch = batch.to(families.device_of(model))
        state = state if state is not None else trunk(model, batch.input_ids, self.first_block)
        inputs, grads, loss = self.capture_grads(model, batch, state)
        factors = self.transform_all(inputs, grads, batch.edit_rows, update_stats)
        edit = self.project(Edit({n: factors[n] for n in self.weight_names},
                                 {"edit_loss": float(loss) / max(len(batch), 1)}), inputs, batch.edit_rows)
        if search and self.config.step_scales and not self.training:
            edit = search_step(model, batch, state, self.first_block, edit, self.config.step_scales,
                               self.config.step_fallback, ride)
            if self.config.repair_tokens:
                pad = getattr(model.generation_config, "pad_token_id", None) or 0
                edit = repair_loops(self, model, batch, edit, self.config.repair_tokens, self.config.repair_scales, pad,
                                    self.config.repair_stop)
                if ride is not None:
                    ride.forget([b for b, scale in enumerate(edit.meta["repair_scales"]) if scale])
        return edit

    def project(self, edit: Edit, inputs: dict, rows: torch.Tensor) -> Edit:
        """`edit` through `self.projection` (off the preserved keys, `guards.KeyProjection`, or re-solved on its
        own layer `inputs` at `rows`, `resolve.KeySolve`), else unchanged."""
        return edit if self.projection is None else self.projection.apply(edit, inputs, rows)

    def with_settings(self, **changes) -> "Editor":
        """A view of this editor with other edit-time settings (`EDIT_TIME_SETTINGS` of its config), sharing its
        networks, statistics and α; the editor itself is unchanged."""
        unknown = set(changes) - set(EDIT_TIME_SETTINGS)
        if unknown:
            raise ValueError(f"not edit-time settings: {sorted(unknown)}; known: {', '.join(EDIT_TIME_SETTINGS)}")
        view = copy.copy(self)
        view.config = replace(self.config, **changes)
        return view

    @torch.no_grad()
    def warm_up(self, model: nn.Module, batches) -> None:
        """Collect normalisation statistics without training (needed before the first edit)."""
        for batch in batches:
            inputs, grads, _ = self.capture_grads(model, batch)
            rows = batch.to(families.device_of(model)).edit_rows
            for n in self.weight_names:
                self.norms[_key(n)].update(torch.cat([inputs[n], grads[n]], dim=-1)[rows], self.stats_gather)

    @property
    def ready(self) -> bool:
        return all(norm.ready for norm in self.norms.values())

    # ---- checkpoints ----------------------------------------------------------------------------
    def save(self, directory: str | Path, *, half: bool = False, extra: dict | None = None) -> None:
        """safetensors + JSON; network weights optionally float16, statistics and α stay float32."""
        directory = Path(directory)
        tensors = {}
        for name, tensor in self.state_dict().items():
            tensor = tensor.detach().contiguous()
            if half and name.startswith("networks.") and tensor.is_floating_point():
                tensor = tensor.half()
            tensors[name] = tensor
        atomic_save_tensors(tensors, directory / WEIGHTS_FILE, {"format_version": str(CHECKPOINT_FORMAT)})
        info = {
            "format_version": CHECKPOINT_FORMAT, "model": self.model_spec, "model_fingerprint": self.model_fingerprint,
            "weights": {n: list(self.shapes[n]) for n in self.weight_names},
            "editor": asdict(self.config), **self.meta, **(extra or {}),
        }
        atomic_write_json(directory / CONFIG_FILE, info)

    @classmethod
    def load(cls, directory: str | Path, model: nn.Module, *, check_fingerprint: bool = True) -> "Editor":
        directory = Path(directory)
        weights, config_path = directory / WEIGHTS_FILE, directory / CONFIG_FILE
        if not weights.is_file() or not config_path.is_file():
            pickles = [p.name for p in directory.glob("*") if p.suffix in REFUSED_SUFFIXES] if directory.is_dir() else []
            if pickles:
                raise ValueError(f"{directory}: refusing pickle checkpoint(s) {pickles}; editors load only from "
                                 f"{WEIGHTS_FILE} + {CONFIG_FILE} (safetensors)")
            raise FileNotFoundError(f"{directory} is not an editor checkpoint: it needs {WEIGHTS_FILE} and {CONFIG_FILE}")
        info = json.loads(config_path.read_text(encoding="utf-8"))
        config = EditorConfig(**info["editor"])
        editor = cls(model, config)
        editor._check_model(info, model, check_fingerprint)
        editor.to(families.device_of(model))
        from safetensors.torch import load_file

        state = {k: v.float() if k.startswith("networks.") else v for k, v in load_file(str(weights)).items()}
        editor.load_state_dict(state)
        editor.model_fingerprint = info.get("model_fingerprint", "")
        editor.meta = {k: v for k, v in info.items() if k not in {"format_version", "model", "model_fingerprint",
                                                                  "weights", "editor"}}
        return editor.eval()

    def push_to_hub(self, repo_id: str, **kwargs):
        """Upload to the Hugging Face Hub with a model card (see `hub.push_to_hub`)."""
        from .hub import push_to_hub

        return push_to_hub(self, repo_id, **kwargs)

    @classmethod
    def from_pretrained(cls, source: str | Path, model: nn.Module, **kwargs) -> "Editor":
        """From a local directory or a Hub repo id, fingerprint checked (see `hub.from_pretrained`)."""
        from .hub import from_pretrained

        return from_pretrained(source, model, **kwargs)

    def _check_model(self, info: dict, model: nn.Module, check_fingerprint: bool) -> None:
        saved = {n: tuple(s) for n, s in info["weights"].items()}
        if saved != {n: tuple(s) for n, s in self.shapes.items()}:
            raise ValueError(f"editor was trained for weights {sorted(saved)} with other names or shapes than this "
                             f"model's {sorted(self.shapes)}; load it with the model it was trained on "
                             f"({info.get('model')!r})")
        expected = info.get("model_fingerprint")
        if check_fingerprint and expected and expected != fingerprint(model):
            raise ValueError(f"the base model's weights differ from the ones this editor was trained on "
                             f"({info.get('model')!r}, fingerprint {expected[:12]}…); load that exact model")
