"""The step-size sweep: which edit-time step search (`instructedit/editor/step_search.py`, then optionally the
loop repair, `repair.py`) makes the shipped editor's edits generation-true without costing locality or fluency.

Each variant is the shipped editor (`assets/editors/<editor>`, not retrained) with one `step_scales`
setting, evaluated on the objective sweep's VALIDATION records with the token and the generation metrics.
The test splits are never read here. `assets/results/step-sweep.{json,md}` log every variant.

    instructedit sweep --step                          # every variant (each done once), then the report
    instructedit sweep --step --variants learned,search
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from instructedit.data.tasks import load_split
from instructedit.editor.editor import Editor
from instructedit.editor.step_search import validate_scales
from instructedit.evaluation.evaluate import evaluate
from instructedit.io import atomic_write_json, atomic_write_text
from instructedit.models import loading
from instructedit.paths import ASSETS_DIR, PROJECT_DIR

from .objective_sweep import NOTE, VALIDATION, markdown

log = logging.getLogger(__name__)
EDITOR = "instructedit"
SEARCH = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
VARIANTS: dict[str, tuple[tuple[float, ...], float, int]] = {  # name -> (step_scales, step_fallback, repair_tokens)
    "learned": ((), 1.0, 0),                                     # the learned α, as trained (the paper)
    "fixed-1.5": ((1.5,), 1.5, 0),                               # every edit's step x 1.5
    "search": (SEARCH, 1.0, 0),                                  # the smallest clean scale that holds
    "search+repair": (SEARCH, 1.0, 8),                           # then the loop repair (repair.py), 8 base tokens
}


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
    editor = Editor.load(ASSETS_DIR / "editors" / EDITOR, model)
    scales, fallback, repair_tokens = VARIANTS[name]
    editor.config.step_scales, editor.config.step_fallback = validate_scales(scales), fallback
    editor.config.repair_tokens = repair_tokens
    records = [r for task, split, n in VALIDATION for r in load_split(task, split)[:n]]
    result = evaluate(model, tokenizer, editor, records, "seen", progress=False)
    result.update(editor=EDITOR, step_scales=list(scales), step_fallback=fallback, repair_tokens=repair_tokens)
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
    atomic_write_json(committed, rows)
    note = f"The shipped `{EDITOR}` editor, not retrained, under each step setting. " + NOTE + "."
    atomic_write_text(out / "step-sweep.md", markdown({n: rows[n] for n in VARIANTS if n in rows}, note))
    return out / "step-sweep.md"

