"""`sequence`: many edits on one model, one after another, and what is left of them at T = 1, 10, 100, ...

Each `--editor` (a folder, or the built-in baseline `ft-l`) edits the same seeded order of records, every
edit computed on the model as edited so far (`EditSequence`); at each checkpoint T the first T edits are
re-scored (retention: token Reliability / Generalization / Portability, and with `--generation` whether
the greedy continuation starts with the target, whether it loops and how fluent it is against the base
model's) together with fixed locality probes.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from instructedit.data.tasks import dataset_names

from . import checks
from .common import INSTRUCTION_HELP, csv, load_base_model, load_editor, log

FT_L = "ft-l"


def _inputs(args) -> tuple[str, list[int], dict | None]:
    """The model spec every editor shares, the checkpoints and the instruction set, checked before any load."""
    specs = {name: checks.editor_folder(name) for name in args.editor if name != FT_L}
    if len(set(specs.values())) > 1:
        raise ValueError("--editor: the editors were trained on different models: "
                         + ", ".join(f"{k} ({v})" for k, v in specs.items()))
    try:
        marks = sorted({int(v) for v in args.checkpoints})
    except ValueError:
        raise ValueError(f"--checkpoints: whole numbers expected, got {','.join(args.checkpoints)}") from None
    if not marks or marks[0] < 1:
        raise ValueError("--checkpoints: give numbers of edits >= 1, e.g. 1,10,100")
    checks.at_least(args.limit, "--limit")
    if args.data:
        args.format = checks.data_file(args.data, args.format)
    if args.step_scales:
        from instructedit.editor.step_search import validate_scales

        try:
            args.step_scales = validate_scales([float(v) for v in args.step_scales])
        except ValueError as err:
            raise ValueError(f"--step-scales: {err}") from None
    shaping = (("--resolve-max-norm", args.resolve_max_norm), ("--resolve-instruction", args.resolve_instruction))
    for flag, value in shaping:
        if value is not None and args.resolve is None:
            raise ValueError(f"{flag} shapes the re-solved edit: give --resolve too")
    for flag, value in (("--scale", args.scale), ("--max-norm", args.max_norm)) + shaping:
        if value is not None and not value > 0:
            raise ValueError(f"{flag}: give a number > 0, got {value}")
    if args.resolve is not None and not args.resolve >= 0:
        raise ValueError(f"--resolve: give the weight of the preserved keys, a number >= 0 (e.g. 1), "
                         f"got {args.resolve}")
    if args.repair_every is not None and args.repair_every < 1:
        raise ValueError(f"--repair-every: give a number of edits >= 1 (e.g. 10), got {args.repair_every}")
    if args.project_energy is not None and not 0 < args.project_energy < 1:
        raise ValueError(f"--project-energy: give a share between 0 and 1 (e.g. 0.99), got {args.project_energy}")
    catalog = checks.instruction_set(args.instruction_set) if args.instruction_set else None
    return args.model or next(iter(specs.values()), "smollm2-135m"), marks, catalog


def _editor(name: str, model, step_scales=None):
    from instructedit.baselines import FineTuneConfig, FineTuneEditor
    from instructedit.models.families import num_blocks

    if name == FT_L:
        return FineTuneEditor(model, FineTuneConfig(edit_last_k=min(3, num_blocks(model))))
    editor = load_editor(name, model)
    return editor.with_settings(step_scales=tuple(step_scales)) if step_scales else editor


def _guard(args, model, tokenizer, editor, records):
    from workbench.experiments.sequences import make_guard

    options = {"scale": args.scale, "max_norm": args.max_norm, "energy": args.project_energy, "resolve": args.resolve,
               "resolve_max_norm": args.resolve_max_norm, "resolve_instruction": args.resolve_instruction,
               "repair_every": args.repair_every}
    options = {k: v for k, v in options.items() if v is not None}
    def exclude() -> set[str]:
        return {p.prompt for r in records for p in r.locality}

    return make_guard(options, model, tokenizer, editor, exclude) if options else None


def markdown(results: dict[str, dict]) -> str:
    from workbench.experiments.sequences import SHOWN, shown_value

    lines = ["| editor | T | " + " | ".join(SHOWN) + " |", "|---|---|" + "---|" * len(SHOWN)]
    for name, result in results.items():
        for point in result["checkpoints"]:
            cells = [shown_value(key, point["summary"].get(key)) for key in SHOWN]
            lines.append(f"| {name} | {point['T']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def sequence(args) -> int:
    from instructedit.data.loaders import load_records
    from instructedit.data.tasks import load_split
    from instructedit.evaluation.sequential import evaluate_sequence
    from instructedit.io import atomic_write_json, atomic_write_text

    spec, marks, catalog = _inputs(args)
    model, tokenizer = load_base_model(spec, args.verbose)
    if args.data:
        records = load_records(args.data, args.format, skip_invalid=True)
    else:
        records = load_split(args.task, args.split)
    records = records[: args.limit or max(marks)]
    results = {}
    for name in args.editor:
        editor = _editor(name, model, args.step_scales)
        results[Path(name).name] = evaluate_sequence(
            model, tokenizer, editor, records, marks, args.instruction, seed=args.seed, catalog=catalog,
            generation=args.generation, lifelong_stats=args.lifelong_stats, guard=_guard(args, model, tokenizer,
                                                                                          editor, records))
    if args.out:
        atomic_write_json(Path(args.out).with_suffix(".json"), results)
        atomic_write_text(Path(args.out).with_suffix(".md"), markdown(results))
        log.info("wrote %s.json and .md", args.out)
    sys.stdout.write(markdown(results) if not args.json else json.dumps(results) + "\n")
    return 0


def sequence_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--editor", action="append", required=True,
                   help=f"editor folder, or `{FT_L}` for the fine-tuning baseline (repeat to compare)")
    p.add_argument("--task", default="zsre", choices=list(dataset_names()),
                   help="data set whose records are edited (default: zsre, the held-out task)")
    p.add_argument("--split", default="test", help="its split (default: test)")
    p.add_argument("--data", help="a data file to edit instead of a registered split")
    p.add_argument("--format", help="the data file's format (default: detected)")
    p.add_argument("--checkpoints", type=csv, default=["1", "10", "100"],
                   help="numbers of edits after which everything is re-scored (default: 1,10,100)")
    p.add_argument("--limit", type=int, help="records to draw the order from (default: the largest checkpoint)")
    p.add_argument("--seed", type=int, default=0, help="seed of the edit order (default: 0)")
    p.add_argument("--generation", action="store_true",
                   help="also score each earlier edit's greedy continuation (starts with its target, degenerate, "
                        "fluency vs base) and the locality prompts' continuations")
    p.add_argument("--lifelong-stats", action="store_true",
                   help="update the MEND normaliser statistics at edit time (on a copy; the editor is unchanged)")
    p.add_argument("--scale", type=float, help="multiply every edit's step by this (instructedit/editor/guards.py)")
    p.add_argument("--max-norm", type=float, help="cap each edit's update norm per edited weight (e.g. 3)")
    p.add_argument("--project-energy", type=float,
                   help="project each edit off the preserved keys' subspace holding this share (e.g. 0.99)")
    p.add_argument("--resolve", type=float, metavar="LAMBDA",
                   help="re-solve each edit against preserved keys (weight LAMBDA, e.g. 1) and the earlier edits' keys "
                        "(instructedit/editor/resolve.py)")
    p.add_argument("--resolve-max-norm", type=float, metavar="C",
                   help="cap each re-solved edit's update norm per weight before the step search (with --resolve)")
    p.add_argument("--resolve-instruction", type=float, metavar="W",
                   help="also preserve the keys of the instructions the edits are wrapped in, each one's second "
                        "moment at W x the preserved facts' (with --resolve; the chosen setting: --resolve 10 "
                        "--resolve-max-norm 1 --resolve-instruction 100 --step-scales 0.5,0.75,1,1.5,2,3,4,6)")
    p.add_argument("--repair-every", type=int, metavar="N",
                   help="every N edits, repair the kept edits that now loop (instructedit/editor/sequence_repair.py)")
    p.add_argument("--step-scales", type=csv, metavar="S1,S2,...",
                   help="replace the editors' edit-time step search scales (e.g. 0.5,1,2,4,6; FT-L has none)")
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of the table")
    p.add_argument("--out", help="write <out>.json (per checkpoint, per record) and <out>.md")
    p.add_argument("--instruction", default="seen",
                   help=INSTRUCTION_HELP + "; drawn: each record its own seen instruction, drawn as training draws it")
    p.add_argument("--instruction-set", metavar="FILE", help="instruction-set JSON in place of the built-in catalog")
    p.add_argument("--model", help="model spec (default: the one the editors were trained on)")


COMMANDS = {
    "sequence": ("edit many records one after another on one model and re-score every earlier edit at "
                 "checkpoints T (retention and locality)", sequence_arguments, sequence),
}
