"""`train`, `eval` and `edit`: meta-train an editor, evaluate editors on a test set, make one edit."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from instructedit.data.loaders import FORMATS
from instructedit.data.records import SENTIMENTS, TASKS
from instructedit.data.tasks import SPLITS

from .common import instruction_set, load_model_and_editor, log

INSTRUCTION_HELP = "seen | unseen | none | 0-9 | free text (editors trained without instructions get none)"


def train(args) -> int:
    from instructedit.training.config import TrainConfig
    from instructedit.training.trainer import Trainer

    config = TrainConfig.from_yaml(args.config, args.set)
    metrics = Trainer(config).train()
    log.info("best validation metrics: %s", json.dumps(metrics, default=float))
    return 0


def evaluate_editors(args) -> int:
    from instructedit.data.loaders import load_records
    from instructedit.data.tasks import load_split
    from instructedit.evaluation.evaluate import evaluate, markdown_table, write_results

    catalog = instruction_set(args.instruction_set)
    results = {}
    for editor_dir in args.editor:
        model, tokenizer, editor = load_model_and_editor(editor_dir, args.model)
        records = (load_records(args.data, args.format, stop=args.limit, skip_invalid=True) if args.data
                   else load_split(args.task, "test")[: args.limit])
        result = evaluate(model, tokenizer, editor, records, args.instruction, batch_size=args.batch_size,
                          catalog=catalog, generation=args.generation)
        results[Path(editor_dir).name] = result | ({"instruction_set": args.instruction_set} if catalog else {})
    if args.out:
        paths = write_results(results, args.out)
        log.info("wrote %s and %s", *paths)
    sys.stdout.write(markdown_table(results))
    return 0


def edit(args) -> int:
    from instructedit.api import edit_and_report
    from instructedit.data.records import EditRecord, Probe

    catalog = instruction_set(args.instruction_set)
    model, tokenizer, editor = load_model_and_editor(args.editor, args.model)
    record = EditRecord(task=args.task, prompt=args.prompt, target=args.target, subject=args.subject or "",
                        rephrases=tuple(args.rephrase or ()),
                        locality=tuple(Probe(p, a) for p, a in (args.locality or [])),
                        topic=args.topic or "", label=args.label or "")
    report = edit_and_report(model, tokenizer, editor, record, args.instruction, catalog)
    sys.stdout.write(json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n")
    return 0


def train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="YAML file, e.g. configs/instructedit.yaml")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. editor.rank=64")


def eval_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--editor", action="append", required=True, help="editor directory (repeat to compare)")
    p.add_argument("--data", help="data file; default: the task's frozen test split")
    p.add_argument("--format", choices=list(FORMATS), help="the data file's format (default: detected)")
    p.add_argument("--task", default="counterfact", choices=list(SPLITS),
                   help="task whose test split to use when --data is absent (default: counterfact)")
    p.add_argument("--instruction", default="seen", help=INSTRUCTION_HELP)
    p.add_argument("--limit", type=int, help="first N records only")
    p.add_argument("--batch-size", type=int, default=8, help="records edited and scored together (default: 8)")
    p.add_argument("--generation", action="store_true", help="ConvSent fluency and sentiment of generations")
    p.add_argument("--instruction-set", metavar="FILE",
                   help="instruction-set JSON in place of the built-in catalog (e.g. from `instructions optimize`)")
    p.add_argument("--model", help="model spec (default: the one the editor was trained on)")
    p.add_argument("--out", help="write <out>.json and <out>.md")


def edit_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--editor", required=True, help="editor directory, e.g. assets/editors/instructedit")
    p.add_argument("--prompt", required=True, help="the edit prompt, e.g. 'The Eiffel Tower is located in'")
    p.add_argument("--target", required=True, help="the new answer, e.g. 'Rome'")
    p.add_argument("--task", default="counterfact", choices=list(TASKS),
                   help="which task's instructions the edit gets (default: counterfact)")
    p.add_argument("--subject", help="the edited subject (recorded with the edit; e.g. 'Eiffel Tower')")
    p.add_argument("--rephrase", action="append", help="a paraphrase of the prompt, scored as Generalization "
                                                       "(repeat for more)")
    p.add_argument("--locality", nargs=2, action="append", metavar=("PROMPT", "ANSWER"),
                   help="an unrelated fact that must not change, scored as Locality (repeat for more)")
    p.add_argument("--topic", help="ConvSent: the topic of the opinion")
    p.add_argument("--label", choices=list(SENTIMENTS), help="ConvSent: the requested sentiment")
    p.add_argument("--instruction", default="seen", help=INSTRUCTION_HELP)
    p.add_argument("--instruction-set", metavar="FILE", help="instruction-set JSON in place of the built-in catalog")
    p.add_argument("--model", help="model spec (default: the one the editor was trained on)")


COMMANDS = {
    "train": ("meta-train an editor from a YAML config", train_arguments, train),
    "eval": ("evaluate editors on a test set (JSON + markdown)", eval_arguments, evaluate_editors),
    "edit": ("make one edit and print before/after and its metrics", edit_arguments, edit),
}
