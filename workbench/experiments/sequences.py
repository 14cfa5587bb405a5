"""The sequence experiments (issue #14): many edits on one model, per editor and task, what is left at T.

Each experiment edits a seeded order of one split's records with every editor in turn (edit k computed on
the model as edited by edits 1..k-1, `evaluation.sequential.evaluate_sequence`) and at each checkpoint T
re-scores every earlier edit and fixed locality probes, with the token and the generation metrics. One
(editor, task) run is a piece on disk (`runs/sequence/<experiment>/<editor>/<task>.json`), reused by a later
run that asks for no more; the pieces are assembled into `assets/results/<experiment>.{json,md}`.

A `mixed` experiment makes one piece of all its (data set, split) pairs together, in one seeded order, and
`instruction="drawn"` wraps each record in its own seen instruction: the edits of an app session
(`sequence-validation-session`, where the app's setting is chosen).

`sequence-validation` is where ways to make edits hold are tried (zsRE records 0-499, which no instruct
editor trains on); `sequence` is run once, on the held-out test records (zsRE records 500-999, the real
Recent test split). A split caps T at its size (zsRE test: 498 valid records, Recent test: 114), so T = 1,000
needs another record set; checkpoints beyond a split's records are skipped with a warning.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

from instructedit.data.tasks import SPLITS, load_split
from instructedit.evaluation import schema
from instructedit.evaluation.sequential import default_locality_probes, evaluate_sequence
from instructedit.io import atomic_write_json, atomic_write_text

from .suite import SequenceExperiment

log = logging.getLogger(__name__)
SHOWN = ("reliability", "gen_reliability", "generalization", "locality", "gen_locality", "degenerate", "fluency_ratio")
QUICK_CHECKPOINTS = (1, 2)
QUICK_LOCALITY_PROBES = 4  # --quick: the fixed locality probes re-scored at each checkpoint (all otherwise)
PRESERVED = 300       # sentences whose layer inputs a variant's preserved keys are (guards.py), unless it sets `preserved`
QUICK_PRESERVED = 20  # --quick: at most this many of them


def editor_name(entry: str) -> str:
    """The suite editor (or baseline) of an experiment entry: `instructedit+lifelong` -> `instructedit`."""
    return entry.split("+", 1)[0]


@dataclass(frozen=True)
class SequencePiece:
    root: Path         # runs/sequence/<experiment>
    entry: str
    task: str
    split: str

    @property
    def path(self) -> Path:
        return self.root / self.entry / f"{self.task}-{self.split}.json"

    def load(self, checkpoints: tuple[int, ...], source: str) -> dict | None:
        """The stored run, if it was made with the editor at `source`, reached every checkpoint asked and has
        every metric of SHOWN (a piece made before a metric existed is made again)."""
        if not self.path.is_file():
            return None
        stored = json.loads(self.path.read_text(encoding="utf-8"))
        done = {c["T"] for c in stored["checkpoints"]}
        reachable = {t for t in checkpoints if t <= stored["n_records"]}
        measured = all(set(SHOWN) <= set(c["summary"]) for c in stored["checkpoints"])
        return stored if stored.get("source") == source and reachable <= done and measured else None


def run_piece(piece: SequencePiece, experiment: SequenceExperiment, model, tokenizer, editor, source: str,
              quick: bool = False) -> dict:
    checkpoints = QUICK_CHECKPOINTS if quick else experiment.checkpoints
    source = variant_source(source, experiment, piece.entry)
    stored = piece.load(checkpoints, source)
    if stored is not None:
        return stored
    pairs = list(zip(piece.task.split("+"), piece.split.split("+")))  # one pair, or a mixed piece's
    records = [r for task, split in pairs for r in load_split(task, split)[: max(checkpoints)]]
    log.info("sequence %s on %s/%s: %d records, checkpoints %s", piece.entry, piece.task, piece.split,
             len(records), checkpoints)
    started = time.process_time()
    options = dict(experiment.variants.get(piece.entry, {}))
    if quick and "step_scales" in options:  # --quick: the variant's search on the editor's own (quick) scales
        options["step_scales"] = editor.config.step_scales or options["step_scales"]
    editor, guard, lifelong = sequence_setup(options, model, tokenizer, editor,
                                             lambda: set().union(*(_task_probes(task) for task, _ in pairs)),
                                             QUICK_PRESERVED if quick else None)
    probes = default_locality_probes(records)[:QUICK_LOCALITY_PROBES] if quick else None
    result = evaluate_sequence(model, tokenizer, editor, records, checkpoints, experiment.instruction,
                               locality_probes=probes, seed=experiment.seed, generation=True,
                               lifelong_stats=lifelong, guard=guard)
    result |= {"source": source, "task": piece.task, "split": piece.split,
               "cpu_seconds": round(time.process_time() - started, 1)}
    atomic_write_json(piece.path, result)
    return result


def sequence_setup(options: dict, model, tokenizer, editor, exclude, preserved: int | None = None):
    """What a variant's options make of an editor for a sequence: (the editor, with `step_scales` as its step
    search where given; the `SequenceGuard` of the other options, None without any; `lifelong_stats`)."""
    options = dict(options)
    lifelong = bool(options.pop("lifelong_stats", False))
    if "step_scales" in options:
        editor = editor.with_settings(step_scales=tuple(options.pop("step_scales")))
    guard = make_guard(options, model, tokenizer, editor, exclude, preserved) if options else None
    return editor, guard, lifelong


def variant_source(source: str, experiment: SequenceExperiment, entry: str) -> str:
    """What made an entry's piece: the editor's source, the variant's options and the instruction setting where it
    is not "seen" (a piece made under other options is not reused)."""
    options = experiment.variants.get(entry)
    source = f"{source}#{json.dumps(options, sort_keys=True)}" if options else source
    return source if experiment.instruction == "seen" else f"{source}#instruction={experiment.instruction}"


def _task_probes(task: str) -> set[str]:
    """Every locality prompt of every split of `task`."""
    return {p.prompt for split in SPLITS[task] for r in load_split(task, split) for p in r.locality}


def make_guard(options: dict, model, tokenizer, editor, exclude, preserved: int | None = None):
    """A `SequenceGuard` from a variant's options (scale, max_norm, energy, resolve, resolve_max_norm,
    resolve_prior: the weight of the earlier edits' keys; resolve_instruction: the weight of the keys of the
    instructions the sequence's edits are wrapped in, `KeySolve.instruction_weight`); the
    preserved keys of its projection or re-solve (`preserved` sentences, PRESERVED by default, from the
    source `preserved_from`, ROME known facts by default; the argument `preserved` caps the count, as --quick
    does) never include a prompt of `exclude()` (the locality probes the evaluation scores; called only when
    there are keys to collect)."""
    from instructedit.editor.guards import KeyProjection, SequenceGuard, preserved_sentences
    from instructedit.editor.resolve import InstructionKeys, KeySolve

    options = dict(options)
    energy, weight = options.pop("energy", None), options.pop("resolve", None)
    cap, prior_weight = options.pop("resolve_max_norm", None), options.pop("resolve_prior", 1.0)
    instruction_weight = options.pop("resolve_instruction", 0.0)
    count, source = options.pop("preserved", PRESERVED), options.pop("preserved_from", "known")
    count = min(count, preserved) if preserved is not None else count
    sentences = preserved_sentences(exclude(), count, source) if energy is not None or weight is not None else []
    if energy is not None:
        options["projection"] = KeyProjection.from_sentences(model, tokenizer, editor.weight_names, sentences,
                                                             energy=energy, max_scale=1.0)
    if weight is not None:
        options["resolve"] = KeySolve.from_sentences(model, tokenizer, editor.weight_names, sentences, weight=weight,
                                                     max_norm=cap, prior_weight=prior_weight)
        if instruction_weight:
            options["resolve"] = replace(options["resolve"], instruction_weight=instruction_weight,
                                         instruction_keys=InstructionKeys(model, tokenizer, editor.weight_names))
    elif cap is not None or prior_weight != 1.0 or instruction_weight:
        raise ValueError("resolve_max_norm, resolve_prior and resolve_instruction shape the re-solved edit: "
                         "they need resolve")
    return SequenceGuard(**options)


def _task_cell(result: dict) -> str:
    """"zsRE (train)", or for a mixed piece "zsRE + Recent (train + validation)"."""
    tasks = " + ".join(schema.task_label(t) for t in result["task"].split("+"))
    return f"{tasks} ({result['split'].replace('+', ' + ')})"


def shown_value(metric: str, value) -> str:
    """One sequence summary value as a table shows it: % for shares, two decimals for ratios, – if unmeasured."""
    if value is None:
        return "–"
    return f"{value:.2f}" if metric in schema.RATIOS else f"{schema.scale(metric) * value:.1f}"


def markdown(results: dict[str, dict[str, dict]]) -> str:
    """One row per (editor, task, T): retention of the first T edits and locality, in %, and edits/s."""
    head = [schema.metric_label(m) for m in SHOWN]
    lines = ["Sequential editing: after T edits (each made on the model edited so far), every earlier edit "
             "re-scored; locality probes fixed. In % (fluency vs base: a ratio); edits/s = T / cumulative edit time.", "",
             "| editor | task | T | " + " | ".join(head) + " | edits/s |", "|---|---|---|" + "---|" * (len(head) + 1)]
    for entry, tasks in results.items():
        for task, result in tasks.items():
            for point in result["checkpoints"]:
                rate = point["T"] / point["edit_seconds"] if point["edit_seconds"] else None
                cells = [shown_value(m, point["summary"].get(m)) for m in SHOWN]
                lines.append(f"| {entry} | {_task_cell(result)} | {point['T']} | "
                             + " | ".join(cells) + f" | {'–' if rate is None else f'{rate:.2f}'} |")
    return "\n".join(lines) + "\n"


def write_sequence_results(results: dict, out: Path) -> Path:
    atomic_write_json(out.with_suffix(".json"), results)
    atomic_write_text(out.with_suffix(".md"), markdown(results))
    return out.with_suffix(".json")
