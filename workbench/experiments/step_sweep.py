"""The step-size sweep: which edit-time step search (`instructedit/editor/step_search.py`, then optionally the
loop repair, `repair.py`) makes the shipped editor's edits generation-true without costing locality or fluency.

Each variant is the shipped editor (`assets/editors/<editor>`, not retrained) with one edit-time setting
(`StepVariant`: step search, loop repair, optionally every edit projected off preserved keys), evaluated on the
objective sweep's VALIDATION records with the token and the generation metrics.
The test splits are never read here. `assets/results/step-sweep.{json,md}` log every variant.

    instructedit sweep --step                          # every variant (each done once), then the report
    instructedit sweep --step --variants learned,search
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from instructedit.data.enrich import known_pool, load_known_facts
from instructedit.data.tasks import load_split
from instructedit.editor.guards import KeyProjection
from instructedit.editor.resolve import KeySolve
from instructedit.editor.editor import Editor
from instructedit.evaluation.evaluate import evaluate
from instructedit.io import atomic_write_json, atomic_write_text
from instructedit.models import loading
from instructedit.paths import ASSETS_DIR, PROJECT_DIR

from .objective_sweep import NOTE, VALIDATION, markdown
from .suite import SMALLER_STEPS

log = logging.getLogger(__name__)
EDITOR = "instructedit"
SEARCH = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
WIDE_SEARCH = SEARCH + (4.0, 6.0)  # for edits weakened by a projection
LOW_SEARCH = SMALLER_STEPS + SEARCH  # smaller steps first, for edits that already hold at the smallest
PRESERVED_FACTS = 300


@dataclass(frozen=True)
class StepVariant:
    """One edit-time setting of the shipped editor: its step search, loop repair and preserved-key projection
    (`key_energy`: `guards.KeyProjection` of every edit off the dominant subspace of known facts of the
    TRAIN pool, `enrich.known_pool`, never a validation or test probe; or `resolve`: every edit re-solved against
    those facts' keys, the sequences' `resolve.KeySolve` for single edits; None: neither)."""

    step_scales: tuple[float, ...]
    step_fallback: float = 1.0
    repair_tokens: int = 0
    key_energy: float | None = None
    resolve: float | None = None  # λ of `resolve.KeySolve`: every edit re-solved against the same known facts' keys
    repair_stop: bool = False     # the loop repair's second try: end the text after the target (`repair.py`)


VARIANTS: dict[str, StepVariant] = {
    "learned": StepVariant(()),                            # the learned α, as trained (the paper)
    "fixed-1.5": StepVariant((1.5,), 1.5),                 # every edit's step x 1.5
    "search": StepVariant(SEARCH),                         # the smallest clean scale that holds
    "search+repair": StepVariant(SEARCH, repair_tokens=8),  # then the loop repair (repair.py), 8 base tokens
    "search+repair+keys": StepVariant(SEARCH, repair_tokens=8, key_energy=0.8),  # every edit off preserved keys
    "search+repair+keys95": StepVariant(SEARCH, repair_tokens=8, key_energy=0.95),  # ... off more of them
    "wide+repair+keys95": StepVariant(WIDE_SEARCH, repair_tokens=8, key_energy=0.95),  # and steps up to 6x
    "search+repair+resolve10": StepVariant(SEARCH, repair_tokens=8, resolve=10.0),  # every edit re-solved
    "low+repair": StepVariant(LOW_SEARCH, repair_tokens=8),  # the search from 0.25x, then the loop repair
    "search+repair+stop": StepVariant(SEARCH, repair_tokens=8, repair_stop=True),  # unmended loops: end them
}


def _projection(model, tokenizer, editor: Editor, variant: StepVariant):
    """The variant's projection from the train pool's known facts (disjoint from every probe scored here)."""
    facts = known_pool(load_known_facts(), "train")[:PRESERVED_FACTS]
    sentences = [f"{f.probe.prompt} {f.probe.answer}" for f in facts]
    if variant.resolve is not None:
        return KeySolve.from_sentences(model, tokenizer, editor.weight_names, sentences, weight=variant.resolve)
    return KeyProjection.from_sentences(model, tokenizer, editor.weight_names, sentences, energy=variant.key_energy,
                                        max_scale=1.0)


def _root() -> Path:
    return PROJECT_DIR / "runs" / "step-sweep"


def run_variant(name: str, model=None, tokenizer=None) -> Path:
    """Evaluate one variant on the validation records (skipped when done): runs/step-sweep/<name>.json."""
    if name not in VARIANTS:
        raise ValueError(f"unknown step variant {name!r}; known: {', '.join(VARIANTS)}")
    out = _root() / f"{name}.json"
    if out.is_file():
        return out
    if model is None:
        model, tokenizer = loading.load_model("smollm2-135m")
    variant = VARIANTS[name]
    editor = Editor.load(ASSETS_DIR / "editors" / EDITOR, model).with_settings(
        step_scales=variant.step_scales, step_fallback=variant.step_fallback, repair_tokens=variant.repair_tokens,
        repair_stop=variant.repair_stop)
    if variant.key_energy is not None or variant.resolve is not None:
        editor.projection = _projection(model, tokenizer, editor, variant)
    records = [r for task, split, n in VALIDATION for r in load_split(task, split)[:n]]
    result = evaluate(model, tokenizer, editor, records, "seen", progress=False)
    result.update(editor=EDITOR, step_scales=list(variant.step_scales), step_fallback=variant.step_fallback,
                  repair_tokens=variant.repair_tokens, key_energy=variant.key_energy, resolve=variant.resolve,
                  repair_stop=variant.repair_stop)
    return atomic_write_json(out, result)


def report(out: Path | None = None) -> Path:
    """assets/results/step-sweep.{json,md} from the variants evaluated so far (runs/step-sweep, else the
    committed file)."""
    out = out or ASSETS_DIR / "results"
    committed = out / "step-sweep.json"
    rows = json.loads(committed.read_text(encoding="utf-8")) if committed.is_file() else {}
    for name in VARIANTS:
        path = _root() / f"{name}.json"
        if path.is_file():
            rows[name] = json.loads(path.read_text(encoding="utf-8"))
    if not rows:
        raise ValueError("no step variant is evaluated yet; run one with --variant NAME")
    return write(rows, out)


def write(rows: dict[str, dict], out: Path) -> Path:
    """step-sweep.{json,md} in the folder `out` from the variants' evaluations."""
    atomic_write_json(out / "step-sweep.json", rows)
    note = f"The shipped `{EDITOR}` editor, not retrained, under each step setting. " + NOTE + "."
    atomic_write_text(out / "step-sweep.md", markdown({n: rows[n] for n in VARIANTS if n in rows}, note))
    return out / "step-sweep.md"

