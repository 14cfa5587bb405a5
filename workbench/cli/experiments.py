"""`analyze`, `figures`, `reproduce`, `rescore`, `sweep`: directions and figures, the paper's experiments."""
from __future__ import annotations

import argparse
from pathlib import Path

from analysis.options import CollectOptions
from analysis.projection import available_methods

from . import checks
from .common import csv, load_base_model, log, quiet_unless_verbose
from .options import add_fields, from_args

COLLECT_HELP = {"weight": "edited weight name (default: up-projection of the last edited block)",
                "pooling": "how token rows are pooled: mean | sum | last", "n": "test records per task",
                "instruction": "for instruct editors: seen | unseen | 0-9 | text (others get none)"}


def analyze(args) -> int:
    from analysis.report import run_analysis

    options = from_args(CollectOptions, args)
    spec = checks.analyze_inputs(args)
    with quiet_unless_verbose(args):
        report = run_analysis(args.editors, args.tasks, args.method, args.out, args.format, options, spec)
    for row in report["u_tilde"]:
        log.info("%s: silhouette %.3f, k-NN accuracy %.3f", row["editor"], row["silhouette"], row["knn_accuracy"])
    return 0


def reproduce(args) -> int:
    from workbench.experiments.reproduce import reproduce as run

    shard = checks.reproduce_inputs(args)
    with quiet_unless_verbose(args):
        plan = run(quick=args.quick, editors=args.editors, experiments=args.experiments,
                   root=Path(args.root) if args.root else None, limit=args.limit, train=not args.no_train,
                   shard=shard)
    log.info("results in %s", plan.results)
    return 0


def rescore(args) -> int:
    from workbench.experiments.rescore import rescore as run

    changes = run(Path(args.results), args.files, check=args.check)
    for name, changed in changes.items():
        log.info("%s: %d degeneration flags %s", name, changed,
                 "would change" if args.check and changed else "changed" if changed else "unchanged")
    return 1 if args.check and any(changes.values()) else 0


def sweep(args) -> int:
    from workbench.experiments import objective_sweep, step_sweep
    from workbench.experiments.sweep import sweep as run

    checks.sweep_inputs(args)
    with quiet_unless_verbose(args):
        if args.objective or args.step:
            module = objective_sweep if args.objective else step_sweep
            for name in args.variants or list(module.VARIANTS):
                log.info("wrote %s", module.run_variant(name))
            log.info("wrote %s", module.report())
        else:
            log.info("wrote %s", run(args.variants, Path(args.root) if args.root else None))
    return 0


def figures(args) -> int:
    from analysis.paper import paper_figures, ship_directions
    from instructedit.paths import ASSETS_DIR, PROJECT_DIR

    checks.figures_inputs(args)
    directions = Path(args.directions)
    if args.collect:
        model, tokenizer = load_base_model(checks.DEFAULT_MODEL, args.verbose)
        ship_directions(Path(args.editors_dir or ASSETS_DIR / "editors"), directions, model, tokenizer, args.n,
                        cache_dir=PROJECT_DIR / "cache" / "directions")
    written = paper_figures(Path(args.results), directions, Path(args.out), args.format, args.method)
    log.info("wrote %d files to %s", len(written), args.out)
    return 0


def analyze_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--editors", type=csv, required=True, help="comma-separated editor directories")
    p.add_argument("--tasks", type=csv, default=["recent", "counterfact", "zsre"],
                   help="comma-separated data sets whose test records are collected (default: recent,counterfact,zsre)")
    p.add_argument("--method", choices=available_methods(), default="pca", help="2-D projection (default: pca)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--format", type=csv, default=["html", "png", "pdf"],
                   help="comma-separated figure formats: html, png, pdf, svg, jpeg, webp (default: html,png,pdf)")
    add_fields(p, CollectOptions, helps=COLLECT_HELP)
    p.add_argument("--model", help="model spec (default: the one the editors were trained on)")


def figures_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results", default="assets/results", help="results folder (default: assets/results)")
    p.add_argument("--directions", default="assets/directions/shipped.safetensors", help="direction vectors file")
    p.add_argument("--collect", action="store_true", help="(re)collect the shipped editors' directions first")
    p.add_argument("--editors-dir", help="folder of editors to collect from (default assets/editors)")
    p.add_argument("--n", type=int, default=100, help="test records per task when collecting (default: 100)")
    p.add_argument("--method", choices=available_methods(), default="pca", help="2-D projection (default: pca)")
    p.add_argument("--out", default="assets/figures", help="output folder (default: assets/figures)")
    p.add_argument("--format", type=csv, default=["html", "png", "pdf"],
                   help="comma-separated figure formats: html, png, pdf, svg, jpeg, webp (default: html,png,pdf)")


def reproduce_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="the same pipeline on tiny subsets, into runs/quick")
    p.add_argument("--editors", type=csv, help="only these suite editors")
    p.add_argument("--experiments", type=csv, help="only these experiments")
    p.add_argument("--root", help="folder for runs (default: runs/, or runs/quick with --quick)")
    p.add_argument("--limit", type=int, help="at most N test records per task in every experiment")
    p.add_argument("--no-train", action="store_true",
                   help="train nothing: evaluate the editors already trained in runs/ or shipped in assets/editors")
    p.add_argument("--shard", metavar="I/N",
                   help="do the I-th of N shares (whole editors: their training and every piece of them), e.g. "
                        "run 1/2 and 2/2 at once on one --root; the last to finish writes each results file")


def rescore_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results", default="assets/results", help="results folder (default: assets/results)")
    p.add_argument("--files", type=csv, help="only these results files, by name without .json (default: all "
                                             "the suite's experiments, sequences and sweeps present)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is out of date")


def sweep_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--objective", action="store_true",
                   help="the training-objective sweep (workbench/experiments/objective_sweep.py): validation "
                        "records with token and generation metrics, assets/results/objective-sweep.md")
    p.add_argument("--step", action="store_true",
                   help="the edit-time step-search sweep of the shipped editor (workbench/experiments/step_sweep.py): "
                        "validation records, assets/results/step-sweep.md")
    p.add_argument("--variants", type=csv, help="only these variants (default: all; see workbench/experiments/"
                                                "sweep.py, objective_sweep.py with --objective, step_sweep.py with "
                                                "--step)")
    p.add_argument("--root", help="folder for the sweep's runs (default runs/sweep)")


COMMANDS = {
    "analyze": ("editing-gradient directions: separation scores and figures", analyze_arguments, analyze),
    "figures": (("the paper's figures (Fig. 2a-d, 3, Table 3) and the sequential-editing curves, from results "
                 "and shipped editors"), figures_arguments, figures),
    "reproduce": ("train the editor suite and write every result (resumable)", reproduce_arguments, reproduce),
    "rescore": ("re-score degeneration in results files from their stored continuations (no model), after its "
                "definition changes", rescore_arguments, rescore),
    "sweep": ("a small logged sweep on validation splits (ranks): assets/results/sweep.md", sweep_arguments, sweep),
}
