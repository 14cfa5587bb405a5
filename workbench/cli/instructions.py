"""`instructions [list|optimize|compare]`: the catalog, the instruction-optimisation loop, its comparison.

The optimize and compare flags are generated from `SearchConfig`, `ProposerOptions` and `CompareOptions`
(their names, types and defaults live there); this module adds the help texts and the historical names.
"""
from __future__ import annotations

import argparse
import json
import sys

from instructedit.data.loaders import FORMATS
from instructedit.data.records import TASKS
from workbench.instruction_search.compare import CompareOptions
from workbench.instruction_search.loop import SearchConfig
from workbench.instruction_search.proposers import PROPOSERS, ProposerOptions

from . import checks
from .common import log, quiet_unless_verbose
from .options import add_fields, from_args

SEARCH_HELP = {
    "task": "the task whose instructions are searched",
    "editor": "trial editor (instruct mode), e.g. assets/editors/instructedit",
    "out_dir": "output folder, resumable (default runs/instructions/<task>)",
    "proposer": "rule-based (deterministic), local (SmolLM2 chat model) or openai (compatible endpoint)",
    "data": "records file for the validation slice (default: the task's train split)",
    "format": "the data file's format (default: detected)",
    "model": "base model spec (default: the one the editor was trained on)",
    "description": "what the task does (default: a built-in one-sentence brief)",
    "instruction_set": "base instruction-set JSON (default: the built-in catalog)",
    "val_records": "last N train records score each candidate",
    "rounds": "proposal rounds", "candidates_per_round": "new candidates per round",
    "patience": "stop after this many rounds without improvement",
    "weights": "reliability,generalization,locality weights of the score",
    "batch_size": "records edited and scored together", "seed": "seed of proposals and draws",
    "fallback": "no rule-based proposals when the proposer fails",
}
SEARCH_FLAGS = {"out_dir": "--out", "instruction_set": "--file", "candidates_per_round": "--candidates",
                "fallback": "--no-fallback"}
PROPOSER_HELP = {
    "base_url": "openai proposer: endpoint base URL", "model": "openai: model name; local: model spec",
    "api_key_env": "openai: environment variable with the key", "timeout_s": "proposer request timeout, seconds",
    "retries": "proposer retries per request", "temperature": "proposer sampling temperature (0 = greedy)",
}
PROPOSER_FLAGS = {"model": "--proposer-model", "timeout_s": "--timeout"}
COMPARE_HELP = {
    "fresh": "compare on train records just before the search's slice, never seen by the search "
             "(writes comparison-fresh.json; default: the search's own slice, comparison.json)",
    "fresh_records": "how many fresh records (default: twice the search's slice)",
    "resamples": "paired bootstrap resamples", "seed": "bootstrap seed",
}


def list_catalog(args) -> int:
    from instructedit.instructions import CATALOG, TASK_NAMES, UNSEEN_INDEX

    catalog = checks.instruction_set(args.file, "--file") or CATALOG
    for task, items in catalog.items():
        if args.task and task != args.task:
            continue
        sys.stdout.write(f"{TASK_NAMES.get(task, task)}\n")
        for i, text in enumerate(items):
            sys.stdout.write(f"  {i}{' (unseen)' if i == UNSEEN_INDEX else ''}: {text}\n")
    return 0


def optimize(args) -> int:
    from workbench.instruction_search import InstructionSearch

    options = from_args(ProposerOptions, args, prefix="proposer_")
    config = from_args(SearchConfig, args, out_dir=args.out_dir or f"runs/instructions/{args.task}",
                       proposer_options=options)
    checks.optimize_inputs(config)
    with quiet_unless_verbose(args):
        result = InstructionSearch(config).run()
    best, ref = result["best"], result["reference"]
    log.info("best (%.4f): %s", best["score"] if best else float("nan"), best["text"] if best else "none")
    if ref:
        log.info("catalog description 0 (%.4f): %s", ref["score"], ref["text"])
    sys.stdout.write(json.dumps({k: result[k] for k in ("best", "reference", "stopped")}, indent=2) + "\n")
    return 0


def compare(args) -> int:
    from workbench.instruction_search import compare as compare_search

    options = from_args(CompareOptions, args)
    checks.compare_inputs(args.out)
    with quiet_unless_verbose(args):
        report = compare_search(args.out, options)
    for name, ci in report["paired_bootstrap_95ci_best_minus"].items():
        log.info("best - %s: %+.2f points [%+.2f, %+.2f]", name, 100 * ci["difference"], 100 * ci["ci_low"],
                 100 * ci["ci_high"])
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    return 0


def instructions(args) -> int:
    return {"optimize": optimize, "compare": compare}.get(getattr(args, "action", None), list_catalog)(args)


def _list_arguments(p: argparse.ArgumentParser, default=None) -> None:
    p.add_argument("--task", default=default, choices=list(TASKS) if default is None else None,
                   help="only this task's instructions")
    p.add_argument("--file", default=default, help="instruction-set JSON to list instead of the built-in catalog")


def _optimize_arguments(p: argparse.ArgumentParser) -> None:
    add_fields(p, SearchConfig, helps=SEARCH_HELP, flags=SEARCH_FLAGS,
               choices={"task": TASKS, "format": FORMATS, "proposer": PROPOSERS}, optional=("out_dir",))
    add_fields(p, ProposerOptions, helps=PROPOSER_HELP, flags=PROPOSER_FLAGS, prefix="proposer_")


def instructions_arguments(p: argparse.ArgumentParser) -> None:
    _list_arguments(p)
    actions = p.add_subparsers(dest="action", metavar="{list,optimize,compare}")
    _list_arguments(actions.add_parser("list", help="list the catalog (the default)"), argparse.SUPPRESS)
    _optimize_arguments(actions.add_parser("optimize", help="write and improve a task's instructions"))
    compare_parser = actions.add_parser(
        "compare", help="a finished search's best instruction vs catalog descriptions 0 and 9, paired over records")
    compare_parser.add_argument("--out", required=True, help="a finished search's folder (with result.json)")
    add_fields(compare_parser, CompareOptions, helps=COMPARE_HELP)


COMMANDS = {
    "instructions": ("list the instruction catalog (`list`, the default), optimise a task's (`optimize`) or "
                     "compare a search's best with the catalog (`compare`)", instructions_arguments, instructions),
}
