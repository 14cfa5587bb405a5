"""The meta-training loop: sample edits, edit, score the edited model, update the editor.

The loss is `objective.EditObjective` (edit NLL, locality and continuation KL). Several independent edits
per step run as one batch (each row of the batch carries its own edit). Data-parallel under `accelerate
launch --num_processes N`: each step draws one global batch of `edits_per_step` edits (the same draw in
every process), process r trains on every N-th of them, Accelerate's `prepare` (DDP) averages the
gradients, and the editor's running normalisers fold in every process's batch statistics, so N processes
follow the 1-process trajectory (tests/test_distributed.py). With `sequence_length` > 1 each row of a
process's share is a chain of edits (`chain.py`): its edit is made on the model as edited by the chain so far.
"""
from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from tqdm.auto import tqdm

from ..data.tasks import load_split
from ..editor.editor import Editor
from ..evaluation.metrics import score_examples
from ..instructions import Instruction, load_instruction_set
from ..models import loading
from ..models.loading import fingerprint
from ..paths import cache_dir
from ..prompts import Example, build_example, training_instruction
from ..tokenize import collate
from .chain import EditChain
from .config import TrainConfig
from .continuation import continuation_pairs
from .objective import EditObjective
from .state import has_checkpoint, load_optimizer, save_optimizer
from .trunk import TrunkCache

log = logging.getLogger(__name__)


class Trainer:
    def __init__(self, config: TrainConfig, model=None, tokenizer=None, records: dict | None = None):
        self.config = config
        self.out = Path(config.out_dir)
        # Accelerate: `accelerate launch ... instructedit train` runs one process per device; `prepare` wraps
        # the objective (DDP when N > 1); only the main process validates, saves and logs.
        self.accelerator = Accelerator(cpu=not torch.cuda.is_available())
        self.world = self.accelerator.num_processes
        if config.edits_per_step % self.world:
            raise ValueError(f"edits_per_step ({config.edits_per_step}) must be a multiple of the number of "
                             f"processes ({self.world}): each process trains on an equal share of every step")
        if model is None:
            model, tokenizer = loading.load_model(config.model)
        self.model, self.tokenizer = model.to(self.accelerator.device), tokenizer
        torch.manual_seed(config.seed)
        self.editor = Editor(model, config.editor).to(self.accelerator.device)
        self.editor.model_fingerprint = fingerprint(model)
        if config.init_from:
            self.editor.load_state_dict(Editor.load(config.init_from, model).state_dict())
            log.info("started from the editor %s", config.init_from)
        self.chain = EditChain(config.sequence_length) if config.sequence_length > 1 else None
        self.catalog = load_instruction_set(config.instruction_set) if config.instruction_set else None
        self.train_ex, self.val_ex = self._examples(records or self._load_records())
        store = (cache_dir() / "trunk" / f"{self.editor.model_fingerprint[:16]}-b{self.editor.first_block}"
                 if config.trunk_store else None)
        self.cache = TrunkCache(model, self.editor.first_block, tokenizer.pad_token_id, config.trunk_cache,
                                store=store)
        self.objective = EditObjective(self.editor, model, tokenizer.pad_token_id, self.cache, config)
        optimizer = torch.optim.Adam([  # fused: one kernel for all tensors (4x faster on CPU than the default)
            {"params": list(self.editor.networks.parameters()), "lr": config.lr},
            {"params": list(self.editor.alphas.parameters()), "lr": config.alpha_lr},
        ], fused=True)
        self.train_objective, self.optimizer = self.accelerator.prepare(self.objective, optimizer)
        if self.world > 1:
            self.editor.stats_gather = self.accelerator.gather
            log.info("data-parallel: %d processes (%s), %d of the %d edits per step each", self.world,
                     type(self.train_objective).__name__, config.edits_per_step // self.world, config.edits_per_step)
        self.step_count, self.skipped, self.best, self.best_metrics = 0, 0, -math.inf, {}

    # ---- data -----------------------------------------------------------------------------------
    def _load_records(self) -> dict:
        return {t: load_split(t, "train", self.config.train_files.get(t)) for t in self.config.editor.tasks}

    def _instruction(self, record) -> Instruction:
        return self.editor.instruction_for(training_instruction(record, self.config.seed))

    def _examples(self, records: dict) -> tuple[dict[str, list[Example]], list[Example]]:
        rng = np.random.default_rng(self.config.seed)
        train, val = {}, []
        for task, recs in records.items():
            order = rng.permutation(len(recs))
            n_val = min(self.config.val_records, len(recs) // 5)
            val_idx, train_idx = order[:n_val], order[n_val:][: self.config.max_train_records]
            val += [self._build(recs[i], self.editor.instruction_for(Instruction(index=0))) for i in val_idx]
            train[task] = [ex for ex in (self._build(recs[i], self._instruction(recs[i])) for i in train_idx)
                           if ex is not None and ex.locality]
            if not train[task]:
                raise ValueError(f"task {task}: no usable training records (each needs a locality probe)")
        return train, [ex for ex in val if ex is not None]

    def _build(self, record, instruction) -> Example | None:
        try:
            return build_example(record, self.tokenizer, instruction, self.catalog, self.config.max_tokens)
        except ValueError as err:
            log.warning("skipped record %s/%s: %s", record.task, record.record_id, err)
            return None

    def _sample(self, step: int) -> list[Example]:
        """This process's share of step `step`'s global batch (every process draws the same batch)."""
        return self.global_batch(step)[self.accelerator.process_index::self.world]

    def global_batch(self, step: int) -> list[Example]:
        rng = np.random.default_rng([self.config.seed, step + 1_000_000])
        tasks = list(self.train_ex)
        mix = self.config.task_weights
        weights = np.array([mix.get(t, 0.0) if mix else 1.0 for t in tasks], dtype=float)
        picks = rng.choice(len(tasks), size=self.config.edits_per_step, p=weights / weights.sum())
        return [self.train_ex[tasks[k]][rng.integers(len(self.train_ex[tasks[k]]))] for k in picks]

    def planned_examples(self) -> list[Example]:
        """Every example the remaining steps will draw (sampling is seeded per step), plus warm-up ones."""
        steps = list(range(-self.config.norm_warmup_batches, 0)) + list(range(self.step_count, self.config.steps))
        return [ex for step in steps for ex in self._sample(step)]

    def fill_cache(self) -> None:
        """Trunk states of exactly the inputs the planned steps use, computed in length-sorted batches."""
        planned = self.planned_examples()
        if self.config.c_cont > 0 and not self.objective.continuations:
            self.objective.continuations = continuation_pairs(self.model, planned, self.tokenizer.pad_token_id,
                                                              self.config.continuation_tokens)
        seqs = [s[0] for ex in planned for s in (ex.edit, self.objective.loss_pair(ex))]
        seqs += [pair[0] for pair in self.objective.kl_pairs(planned)[0] + self.objective.plain_pairs(planned)[0]]
        with tqdm(total=len(set(map(tuple, seqs))), desc="trunk cache", disable=not self.cache.enabled) as bar:
            self.cache.fill(seqs, bar)

    # ---- one step -------------------------------------------------------------------------------
    def step(self) -> dict:
        examples = self._sample(self.step_count)
        self.editor.train()
        chained = self._chain_inputs()
        losses = self.train_objective(examples, **chained)
        self.optimizer.zero_grad(set_to_none=True)
        self.accelerator.backward(losses["loss"])  # DDP averages the gradients over processes here
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        grad_norm = self.accelerator.clip_grad_norm_(params, self.config.grad_clip)
        stats = self._global_mean(losses)  # every process decides alike whether to step
        finite = bool(torch.isfinite(grad_norm)) and math.isfinite(stats["loss"])
        if finite:
            self.optimizer.step()
        else:
            self.skipped += 1
            log.warning("step %d: non-finite loss or gradient, skipped (%d so far)", self.step_count, self.skipped)
        if self.chain is not None:  # a non-finite edit would poison the rest of its chain: start a new one
            self.chain.add(self.objective.last_edit, examples) if finite else self.chain.reset()
        self.step_count += 1
        return stats | {"grad_norm": float(grad_norm)}

    def _chain_inputs(self) -> dict:
        """The objective's chain arguments for this step (`chain.py`): none, or the chain (a fresh one at every
        multiple of `sequence_length`) and the earlier edits its retention term scores (seeded per step)."""
        if self.chain is None:
            return {}
        if self.chain.starts_at(self.step_count):
            self.chain.reset()
        retained = []
        if self.config.c_retain > 0:  # row b's draw seeded by its place in the global batch, as one process draws it
            rows = range(self.accelerator.process_index, self.config.edits_per_step, self.world)
            rngs = [np.random.default_rng([self.config.seed, self.step_count, row, 2]) for row in rows]
            retained = self.chain.pick(rngs, self.config.retain_probes)
        return {"chain": self.chain, "retained": retained}

    def _global_mean(self, losses: dict[str, torch.Tensor]) -> dict[str, float]:
        """The loss terms averaged over processes: the global batch's means (shares are equal)."""
        values = torch.stack([v.detach().float().reshape(()) for v in losses.values()])
        if self.world > 1:
            values = self.accelerator.reduce(values, reduction="mean")
        return dict(zip(losses, values.tolist()))

    def warm_up_norms(self) -> None:
        """Gather normalisation statistics before anything uses the editor (no parameter updates)."""
        for i in range(self.config.norm_warmup_batches):
            examples = self._sample(-self.config.norm_warmup_batches + i)
            batch = collate([ex.edit for ex in examples], self.tokenizer.pad_token_id)
            with torch.no_grad():
                self.editor.edit(self.model, batch, self.cache.state([ex.edit[0] for ex in examples]),
                                 update_stats=True)

    # ---- validation, checkpoints, the loop ------------------------------------------------------
    def validate(self, batch_size: int = 8) -> dict:
        self.editor.eval()
        scores = []
        pad = self.tokenizer.pad_token_id
        for i in range(0, len(self.val_ex), batch_size):
            chunk = self.val_ex[i:i + batch_size]
            with torch.no_grad():  # the checkpoint is chosen on the learned step, what training optimises
                edit = self.editor.edit(self.model, collate([ex.edit for ex in chunk], pad), search=False).detach()
            scores += score_examples(self.model, self.editor, chunk, pad, edit)
        result = {}
        for key in ("reliability", "generalization", "locality"):
            values = [s[key] for s in scores if s[key] is not None]
            result[key] = float(np.mean(values)) if values else float("nan")
        result["score"] = result["reliability"] + result["locality"] + np.nan_to_num(result["generalization"])
        return result

    def save(self, kind: str, metrics: dict | None = None) -> None:
        extra = {"train": self.config.to_dict(), "step": self.step_count, "metrics": metrics or {}}
        self.editor.save(self.out / kind, extra=extra)
        if kind == "last":
            save_optimizer(self.optimizer, self.out / kind, {"step": self.step_count, "skipped": self.skipped,
                                                             "best": self.best, "best_metrics": self.best_metrics})

    def resume(self) -> bool:
        last = self.out / "last"
        if not has_checkpoint(last):
            return False
        loaded = Editor.load(last, self.model)
        self.editor.load_state_dict(loaded.state_dict())
        info = load_optimizer(self.optimizer, last)
        self.step_count, self.skipped, self.best = info["step"], info["skipped"], info["best"]
        self.best_metrics = info.get("best_metrics", {})
        log.info("resumed from %s at step %d", last, self.step_count)
        return True

    def _log(self, record: dict) -> None:
        if not self.accelerator.is_main_process:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        with open(self.out / "log.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    def train(self) -> dict:
        self.fill_cache()
        if not self.resume() and not self.config.init_from:  # a started editor keeps its statistics
            self.warm_up_norms()
        started = time.perf_counter()
        with tqdm(total=self.config.steps, initial=self.step_count, desc=self.config.name) as bar:
            while self.step_count < self.config.steps:
                stats = self.step()
                bar.update(1)
                if self.step_count % self.config.log_every == 0:
                    bar.set_postfix(nll=f"{stats['edit_nll']:.2f}", kl=f"{stats['kl']:.3f}")
                    self._log({"step": self.step_count, **stats, "elapsed_s": time.perf_counter() - started})
                if self.step_count % self.config.eval_every == 0 or self.step_count == self.config.steps:
                    self._checkpoint()
                elif self.step_count % self.config.save_every == 0 and self.accelerator.is_main_process:
                    self.save("last")  # a resume point; an interruption loses at most save_every steps
        return self.best_metrics

    def _checkpoint(self) -> None:
        self.accelerator.wait_for_everyone()
        if not self.accelerator.is_main_process:
            return
        metrics = self.validate()
        self._log({"step": self.step_count, "val": metrics, "skipped": self.skipped})
        if metrics["score"] > self.best:
            self.best, self.best_metrics = metrics["score"], metrics
            self.save("best", metrics)
        self.save("last", metrics)
