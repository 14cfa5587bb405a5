"""`train` and `eval`: meta-train an editor; evaluate editors (and the unedited base model) on a test set."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from instructedit.data.loaders import FORMATS
from instructedit.data.tasks import SPLITS

from . import checks
from .common import INSTRUCTION_HELP, load_base_model, load_editor, log

BASE = "base"


def train(args) -> int:
    from instructedit.training.trainer import Trainer

    config = checks.train_config(args.config, args.set)
    metrics = Trainer(config).train()
    log.info("best validation metrics: %s", json.dumps(metrics, default=float))
    return 0


def _unique(name: str, taken) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}-{n}", n + 1
    return candidate


def _editors(args, model) -> dict:
    """Column name -> editor: the unedited base model first (unless --no-base), then every --editor."""
    from instructedit.baselines import NoEditEditor

    editors = {} if args.no_base else {BASE: NoEditEditor(model, edit_last_k=1)}
    for editor_dir in args.editor:
        editors[_unique(Path(editor_dir).name, editors)] = load_editor(editor_dir, model)
    return editors


def evaluate_editors(args) -> int:
    from instructedit.evaluation.evaluate import evaluate, markdown_table, write_results

    checked = checks.eval_inputs(args)
    model, tokenizer = load_base_model(checked.model, args.verbose)  # once, for every editor
    results = {}
    for name, editor in _editors(args, model).items():
        log.info("evaluating %s on %d records", name, len(checked.records))
        result = evaluate(model, tokenizer, editor, checked.records, args.instruction, batch_size=args.batch_size,
                          catalog=checked.catalog, generation=args.generation)
        results[name] = result | ({"instruction_set": args.instruction_set} if checked.catalog else {})
    if args.out:
        paths = write_results(results, args.out)
        log.info("wrote %s and %s", *paths)
    sys.stdout.write(markdown_table(results))
    return 0


def train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="YAML file, e.g. configs/instructedit.yaml")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. editor.rank=64")


def eval_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--editor", action="append", required=True,
                   help="editor directory (repeat to compare; the model is loaded once, so the editors must "
                        "share a base model)")
    p.add_argument("--data", help="data file (JSON list or JSON lines); default: the task's frozen test split")
    p.add_argument("--format", choices=list(FORMATS),
                   help="the --data file's format (default: detected); a format the file is not in is an error")
    p.add_argument("--task", default="counterfact", choices=list(SPLITS),
                   help="data set whose test split to use when --data is absent (default: counterfact)")
    p.add_argument("--instruction", default="seen", help=INSTRUCTION_HELP)
    p.add_argument("--limit", type=int, help="first N records only (N >= 1)")
    p.add_argument("--batch-size", type=int, default=8, help="records edited and scored together, >= 1 (default: 8)")
    p.add_argument("--generation", action="store_true", help="ConvSent fluency and sentiment of generations")
    p.add_argument("--instruction-set", metavar="FILE",
                   help="instruction-set JSON in place of the built-in catalog (e.g. from `instructions optimize`)")
    p.add_argument("--no-base", action="store_true",
                   help="leave out the base column (the unedited model; key \"base\" in the JSON)")
    p.add_argument("--model", help="model spec (default: the one the editors were trained on)")
    p.add_argument("--out", help="write <out>.json and <out>.md")


COMMANDS = {
    "train": ("meta-train an editor from a YAML config", train_arguments, train),
    "eval": ("evaluate editors, beside the unedited base model, on a test set (JSON + markdown)", eval_arguments,
             evaluate_editors),
}
