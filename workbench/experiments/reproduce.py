"""`instructedit reproduce`: train every suite editor, run every experiment, write assets/results/.

Resumable at every level: a finished editor is skipped, an interrupted one resumes from its last
checkpoint, and each (experiment, editor, instruction) evaluation is kept as soon as it finishes.
`--quick` runs the same pipeline on tiny subsets (a few minutes) into a scratch folder. `--shard I/N` does
the I-th of N shares of the work (`shards.py`: whole editors with all their pieces), for N processes at once.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from instructedit.baselines import FineTuneConfig, FineTuneEditor, NoEditEditor
from instructedit.data.tasks import SPLITS, load_split
from instructedit.editor.editor import CONFIG_FILE, Editor
from instructedit.evaluation.evaluate import evaluate, write_results
from instructedit.evaluation.generation_metrics import GenerationSettings
from instructedit.io import atomic_write_json
from instructedit.models import loading
from instructedit.paths import ASSETS_DIR, PROJECT_DIR
from instructedit.training.config import TrainConfig
from instructedit.training.state import STATE_FILE
from instructedit.training.trainer import Trainer
from workbench.experiments.pieces import Piece, assemble, pieces_summary
from workbench.experiments.report import write_summary
from workbench.experiments.sequences import (QUICK_CHECKPOINTS, SequencePiece, editor_name, run_piece, variant_source,
                                             write_sequence_results)
from workbench.experiments.shards import Shard
from workbench.experiments.suite import EDITORS, EXPERIMENTS, SEQUENCES, Experiment

log = logging.getLogger(__name__)
QUICK_OVERRIDES = ("steps=4", "max_train_records=8", "val_records=3", "eval_every=4", "norm_warmup_batches=2",
                   "editor.rank=16", "edits_per_step=2", "trunk_store=false")
QUICK_CHAIN_LENGTH = 2  # --quick: an editor trained on chains of edits trains on chains of two (four steps)
QUICK_RECORDS = 1  # --quick: test records per (editor, instruction, task) piece
QUICK_STEP_SCALES = (1.0, 2.0)  # --quick: the edit-time step search (where an editor has one) over two scales
QUICK_REPAIR_SCALES = (1.0,)    # --quick: the loop repair (where an editor has one) tries one scale
QUICK_FT_STEPS = 3  # --quick: FT-L's optimisation steps per edit (25 otherwise), the same code path
BASELINES = {"base": lambda model, quick: NoEditEditor(model),
             "ft-l": lambda model, quick: FineTuneEditor(model, FineTuneConfig(steps=QUICK_FT_STEPS) if quick
                                                          else FineTuneConfig())}
GENERATION_RECORDS = 50  # ConvSent records whose greedy reply is scored for fluency and sentiment
QUICK_GENERATION = GenerationSettings(text_tokens=8)  # --quick: the same metrics on short continuations
QUICK_INSTRUCTIONS = 2  # --quick: an experiment's first instruction settings only (the sweep has ten)


def instruction_settings(experiment: Experiment, quick: bool) -> tuple[str, ...]:
    """The instruction settings an experiment evaluates: all of them, or the first few with --quick."""
    return experiment.instructions[:QUICK_INSTRUCTIONS] if quick else experiment.instructions


@dataclass
class Plan:
    runs: Path                 # training runs and evaluation pieces
    results: Path              # experiment results (assets/results, or a scratch folder with --quick)
    editors: Path | None       # where shipped editors go (None: do not ship)
    quick: bool = False
    eval_limit: int | None = None
    shard: Shard = Shard()

    @classmethod
    def make(cls, quick: bool, root: Path | None = None) -> "Plan":
        if quick:
            base = root or PROJECT_DIR / "runs" / "quick"
            return cls(base, base / "results", None, True, eval_limit=QUICK_RECORDS)
        base = root or PROJECT_DIR / "runs"
        return cls(base, ASSETS_DIR / "results", ASSETS_DIR / "editors")


def _finished(out: Path, steps: int) -> bool:
    state = out / "last" / STATE_FILE
    return state.is_file() and json.loads(state.read_text())["step"] >= steps and (out / "best").is_dir()


def train_suite(plan: Plan, model, tokenizer, names: list[str]) -> dict[str, float]:
    unknown = set(names) - set(EDITORS)
    if unknown:
        raise ValueError(f"unknown suite editor(s) {sorted(unknown)}; known: {', '.join(EDITORS)}")
    seconds = {}
    for name in [n for n in names if plan.shard.owns(n)]:
        spec = EDITORS[name]
        path = PROJECT_DIR / "configs" / spec.config
        overrides = list(spec.overrides) + (list(QUICK_OVERRIDES) if plan.quick else [])
        if plan.quick and (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("sequence_length", 1) > 1:
            overrides.append(f"sequence_length={QUICK_CHAIN_LENGTH}")
        overrides.append(f"out_dir={plan.runs / name}")
        if spec.start_from:
            overrides.append(f"init_from={_start(plan, name, spec.start_from)}")
        config = TrainConfig.from_yaml(path, overrides)
        config.name = name
        if plan.quick and config.editor.step_scales:
            config.editor.step_scales = QUICK_STEP_SCALES
        if plan.quick and config.editor.repair_tokens:
            config.editor.repair_scales = QUICK_REPAIR_SCALES
        if _finished(Path(config.out_dir), config.steps):
            log.info("%s: already trained, skipped", name)
        else:
            started = time.process_time()
            Trainer(config, model, tokenizer).train()
            seconds[name] = time.process_time() - started
        if spec.ship and plan.editors is not None:
            Editor.load(Path(config.out_dir) / "best", model).save(plan.editors / name, half=True)
    return seconds


def _start(plan: Plan, name: str, start: str) -> Path:
    """The trained editor `name`'s training starts from: this plan's run of `start`, else its shipped copy."""
    directory = _editor_dir(plan, start)
    if directory is None:
        raise ValueError(f"{name} starts from the suite editor {start}, which is not trained yet: train it first "
                         f"(`instructedit reproduce --editors {start},{name}`)")
    return directory


def _editor_dir(plan: Plan, name: str) -> Path | None:
    """A trained editor: this plan's training run, else the shipped copy in assets/editors (None: neither)."""
    for candidate in (plan.runs / name / "best", plan.editors / name if plan.editors else None):
        if candidate is not None and (candidate / CONFIG_FILE).is_file():
            return candidate
    return None


def _source(plan: Plan, name: str) -> str:
    """What made a piece: a baseline's name, or the editor folder, with its edit-time step search and loop
    repair when it has them (a piece made without them is not reused under them)."""
    if name in BASELINES:
        return name
    directory = _editor_dir(plan, name)
    settings = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))["editor"]
    scales = settings.get("step_scales") or ()
    if not scales:
        return str(directory)
    repair = settings.get("repair_tokens") or 0
    more = f"&repair_tokens={repair}&repair_scales={list(settings['repair_scales'])}" if repair else ""
    more += "&repair_stop=1" if repair and settings.get("repair_stop") else ""
    return f"{directory}?step_scales={list(scales)}&fallback={settings['step_fallback']}{more}"


def _editor(plan: Plan, name: str, model):
    if name in BASELINES:
        return BASELINES[name](model, plan.quick)
    return Editor.load(_editor_dir(plan, name), model)


def _cap(experiment: Experiment, editor: str, limit: int | None) -> int | None:
    caps = [c for c in (experiment.per_task, experiment.editor_caps.get(editor), limit) if c is not None]
    return min(caps) if caps else None


def _task_scores(plan: Plan, piece: Piece, cap: int | None, model, tokenizer, editor) -> list[dict] | None:
    """One (editor, instruction, task) evaluation: from its piece on disk, else computed and kept (None:
    another shard's piece, not there yet)."""
    source = _source(plan, piece.editor)
    rows = piece.load(cap, source)
    if rows is None and plan.shard.owns(piece.editor):
        log.info("evaluate %s on %s, instruction %s", piece.editor, piece.task, piece.instruction)
        records = load_split(piece.task, "test")[:cap]
        generation = 0 if plan.quick else GENERATION_RECORDS
        started = time.process_time()
        settings = QUICK_GENERATION if plan.quick else None
        rows = evaluate(model, tokenizer, editor, records, piece.instruction, generation=generation,
                        settings=settings)["records"]
        piece.save(cap, rows, source, time.process_time() - started)
    return rows


def _waiting(plan: Plan, name: str, editor: str) -> None:
    log.info("%s: editor %s belongs to another of the %d shards and its pieces are not all there yet: the "
             "results file is left to the last shard", name, editor, plan.shard.count)


def _trained(plan: Plan, name: str, editor: str) -> bool | None:
    """Whether an experiment can use `editor`: True, False (left out, as without shards), None (another
    shard's editor, not trained yet: the experiment waits for that shard)."""
    if editor in BASELINES or _editor_dir(plan, editor) is not None:
        return True
    if not plan.shard.owns(editor):
        return None
    log.warning("%s: editor %s is not trained yet, left out (run `instructedit reproduce`)", name, editor)
    return False


def run_experiment(plan: Plan, name: str, model, tokenizer) -> Path | None:
    """Every piece of an experiment this process owns, then its results file (None: another shard's
    pieces are missing, so the file is left to the last shard; every own piece is made first)."""
    experiment = EXPERIMENTS[name]
    results, complete = {}, True
    for member in experiment.editors:
        usable = _trained(plan, name, member)
        if not usable:
            complete = complete and usable is False
            continue
        editor = _editor(plan, member, model)
        cap = _cap(experiment, member, plan.eval_limit)
        for instruction in instruction_settings(experiment, plan.quick):
            setting = editor.setting_for(instruction)
            key = member if len(experiment.instructions) == 1 else f"{member} ({instruction})"
            pieces = [Piece(plan.runs / "eval" / "pieces", member, setting, task) for task in experiment.tasks]
            scores = [_task_scores(plan, p, cap, model, tokenizer, editor) for p in pieces]
            if any(rows is None for rows in scores):
                _waiting(plan, name, member)
                complete = False
            elif complete:
                results[key] = assemble(setting, scores)
    if not complete:
        return None
    json_path, _ = write_results(results, plan.results / name)
    return json_path


def run_sequence_experiment(plan: Plan, name: str, model, tokenizer) -> Path | None:
    """A sequence experiment (`sequences.SEQUENCES`): every (editor, task) piece this process owns, then the
    results file (None: another shard's pieces are missing)."""
    experiment, results, complete = SEQUENCES[name], {}, True
    checkpoints = QUICK_CHECKPOINTS if plan.quick else experiment.checkpoints
    for entry in experiment.editors:
        base = editor_name(entry)
        usable = _trained(plan, name, base)
        if not usable:
            complete = complete and usable is False
            continue
        source = _source(plan, base)
        pieces = [SequencePiece(plan.runs / "sequence" / name, entry, task, split)
                  for task, split in experiment.piece_tasks()]
        if plan.shard.owns(base):
            editor = _editor(plan, base, model)
            runs = [run_piece(piece, experiment, model, tokenizer, editor, source, plan.quick) for piece in pieces]
        else:
            runs = [piece.load(checkpoints, variant_source(source, experiment, entry)) for piece in pieces]
        if any(run is None for run in runs):
            _waiting(plan, name, base)
            complete = False
        results[entry] = {f"{piece.task}-{piece.split}": run for piece, run in zip(pieces, runs)}
    return write_sequence_results(results, plan.results / name) if complete else None


RUNNERS = {**{name: run_experiment for name in EXPERIMENTS}, **{name: run_sequence_experiment for name in SEQUENCES}}


def _split_rule(spec) -> dict:
    """How a split picks its records: a slice of the file, or a frozen split definition and its SHA-256."""
    if not spec.definition:
        return {"records": f"[{spec.start}:{spec.stop}]"}
    definition = ASSETS_DIR / "data" / "splits" / f"{spec.definition}.json"
    return {"definition": f"assets/data/splits/{definition.name}",
            "definition_sha256": hashlib.sha256(definition.read_bytes()).hexdigest()}


def provenance(plan: Plan, seconds: dict) -> dict:
    files = {}
    for task, splits in SPLITS.items():
        for split, spec in splits.items():
            path = spec.path()
            if path.is_file():
                files[f"{task}/{split}"] = {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                                            **_split_rule(spec)}
    configs = {name: {"config": e.config, "overrides": list(e.overrides)} for name, e in EDITORS.items()}
    previous = plan.results / "provenance.json"
    before = json.loads(previous.read_text()) if previous.is_file() else {}
    trained = before.get("train_cpu_seconds", {})
    # evaluations of earlier runs (another machine, another session) are kept beside this run's pieces
    pieces = before.get("evaluations", {}) | pieces_summary(plan.runs / "eval" / "pieces")
    return {"data": files, "editors": configs, "train_cpu_seconds": {**trained, **seconds},
            "evaluation_cpu_seconds": sum(p["cpu_seconds"] or 0.0 for p in pieces.values()),
            "evaluations": pieces, "quick": plan.quick}


def reproduce(quick: bool = False, editors: list[str] | None = None, experiments: list[str] | None = None,
              root: Path | None = None, limit: int | None = None, train: bool = True,
              shard: Shard = Shard()) -> Plan:
    """Train the suite (unless `train` is False: evaluate what is trained or shipped), run the experiments
    (with a shard: this process's editors only; the last shard to finish writes each results file)."""
    plan = Plan.make(quick, root)
    plan.shard = shard
    if limit is not None:
        plan.eval_limit = min(limit, plan.eval_limit or limit)
    model, tokenizer = loading.load_model("smollm2-135m")
    seconds = train_suite(plan, model, tokenizer, editors or list(EDITORS)) if train else {}
    for name in experiments or list(RUNNERS):
        written = RUNNERS[name](plan, name, model, tokenizer)
        if written is not None:
            log.info("wrote %s", written)
    atomic_write_json(plan.results / "provenance.json", provenance(plan, seconds))
    log.info("wrote %s", write_summary(plan.results))
    return plan
