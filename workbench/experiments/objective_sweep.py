"""The objective sweep: which training objective makes edits generation-true, fluent and local.

Each variant is `configs/instructedit.yaml` plus overrides, trained for the same short budget on the real
tasks, then evaluated on VALIDATION records only (the real tasks' validation splits; zsRE records 0-N of its
train half, which no instruct editor trains on) with the token and the generation metrics. The test splits
are never read here. `assets/results/objective-sweep.{json,md}` log every variant with its numbers.

    python -m workbench.experiments.objective_sweep --variant paper        # one variant (resumable)
    python -m workbench.experiments.objective_sweep --report               # the table of those done
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from instructedit.data.tasks import load_split
from instructedit.editor.editor import Editor
from instructedit.evaluation import schema
from instructedit.evaluation.evaluate import evaluate, rescored
from instructedit.io import atomic_write_json, atomic_write_text
from instructedit.models import loading
from instructedit.paths import ASSETS_DIR, PROJECT_DIR
from instructedit.training.config import TrainConfig
from instructedit.training.trainer import Trainer

from .sweep import _trained

log = logging.getLogger(__name__)
BUDGET = ("steps=200", "eval_every=200")
GROUPS = "locality_groups=[neighbour, same_subject, unrelated]"
VARIANTS: dict[str, tuple[str, ...]] = {   # name -> overrides of configs/instructedit.yaml (each variant complete)
    "paper": ("c_cont=0", "locality_groups=[]"),                    # edit NLL + KL on one locality probe
    "groups": ("c_cont=0", GROUPS),                                 # + KL on a neighbour and a same-subject probe
    "cont": ("c_cont=1.0", GROUPS),                                 # + KL on the base continuation after the target
    "cont-strong": ("c_cont=4.0", GROUPS),
    "cont-plain": ("c_cont=1.0", GROUPS, "c_plain=0.1"),              # + the target's NLL on the plain prompt
    "cont-plain-local": ("c_cont=2.0", GROUPS, "c_plain=0.1", "c_loc=2.0"),  # the same, locality and continuation x2
}
# validation records per task: (data set, split, count)
VALIDATION = (("counterfact", "validation", 40), ("recent", "validation", 40), ("zsre", "train", 40))
SHOWN = ("reliability", "gen_reliability", "gen_reliability_plain", "generalization", "gen_generalization",
         "locality", "gen_locality", "gen_locality_neighbour", "gen_locality_same_subject", "gen_leak",
         "degenerate", "fluency_ratio")


def _root() -> Path:
    return PROJECT_DIR / "runs" / "objective"


def run_variant(name: str, model=None, tokenizer=None) -> Path:
    """Train (resumable) and evaluate one variant on the validation records: runs/objective/<name>/validation.json."""
    if name not in VARIANTS:
        raise ValueError(f"unknown objective variant {name!r}; known: {', '.join(VARIANTS)}")
    if model is None:
        model, tokenizer = loading.load_model("smollm2-135m")
    out = _root() / name
    overrides = [*VARIANTS[name], *BUDGET, f"out_dir={out}"]
    config = TrainConfig.from_yaml(PROJECT_DIR / "configs" / "instructedit.yaml", overrides)
    config.name = f"objective-{name}"
    if not _trained(out, config.steps):
        Trainer(config, model, tokenizer).train()
    editor = Editor.load(out / "best", model)
    records = [r for task, split, n in VALIDATION for r in load_split(task, split)[:n]]
    result = evaluate(model, tokenizer, editor, records, "seen", progress=False)
    result["overrides"], result["budget"] = list(VARIANTS[name]), list(BUDGET)
    return atomic_write_json(out / "validation.json", result)


NOTE = ("Validation records only (40 per task; zsRE: records 0-39, held out of training); seen instruction; in % "
        "(fluency vs base as a ratio). Degeneration as `instructedit.evaluation.degeneration` defines it")


def markdown(rows: dict[str, dict], note: str = NOTE + ", re-scored from the stored continuations.") -> str:
    head = [schema.metric_label(m) for m in SHOWN]
    lines = [note, "",
             "| variant | task | " + " | ".join(head) + " |", "|---|---|" + "---|" * len(head)]
    for name, result in rows.items():
        for task, summary in result["summary"].items():
            cells = [schema.shown_cell(m, summary.get(m)) for m in SHOWN]
            lines.append(f"| {name} | {schema.task_label(task)} | " + " | ".join(
                "–" if c is None else f"{c.mean:.1f}" if m not in schema.UNSCALED else f"{c.mean:.2f}"
                for m, c in zip(SHOWN, cells)) + " |")
    return "\n".join(lines) + "\n"


def report(out: Path | None = None, source: Path | None = None) -> Path:
    """assets/results/objective-sweep.{json,md} from the variants evaluated so far (runs/objective, else the
    committed `source` file), degeneration re-scored from the stored continuations."""
    out = out or ASSETS_DIR / "results"
    targets = {(r.task, r.record_id): r.target for task, split, _ in VALIDATION for r in load_split(task, split)}
    committed = source or out / "objective-sweep.json"
    rows = json.loads(committed.read_text(encoding="utf-8")) if committed.is_file() else {}
    for name in VARIANTS:
        path = _root() / name / "validation.json"
        if path.is_file():
            rows[name] = json.loads(path.read_text(encoding="utf-8"))
    rows = {name: rescored(result, targets)[0] for name, result in rows.items()}
    if not rows:
        raise ValueError("no objective variant is evaluated yet; run one with --variant NAME")
    return write(rows, out)


def write(rows: dict[str, dict], out: Path) -> Path:
    """objective-sweep.{json,md} in the folder `out` from the variants' evaluations."""
    atomic_write_json(out / "objective-sweep.json", rows)
    atomic_write_text(out / "objective-sweep.md", markdown(rows))
    return out / "objective-sweep.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", action="append", choices=list(VARIANTS), help="train and evaluate a variant")
    parser.add_argument("--report", action="store_true", help="write assets/results/objective-sweep.{json,md}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for name in args.variant or []:
        log.info("wrote %s", run_variant(name))
    if args.report:
        log.info("wrote %s", report())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
