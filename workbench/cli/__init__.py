"""`instructedit` command line: train | eval | edit | analyze | figures | reproduce | sweep |
instructions [list|optimize|compare]."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

log = logging.getLogger("instructedit")


def _train(args) -> int:
    from instructedit.training.config import TrainConfig
    from instructedit.training.trainer import Trainer

    config = TrainConfig.from_yaml(args.config, args.set)
    metrics = Trainer(config).train()
    log.info("best validation metrics: %s", json.dumps(metrics, default=float))
    return 0


def _load(editor_dir: str, model_spec: str | None):
    from instructedit.editor.editor import Editor
    from instructedit.models.loading import load_model

    info = json.loads((Path(editor_dir) / "editor.json").read_text(encoding="utf-8"))
    model, tokenizer = load_model(model_spec or info.get("model") or "smollm2-135m")
    return model, tokenizer, Editor.load(editor_dir, model)


def _instruction_set(path: str | None) -> dict | None:
    """The --instruction-set file's catalog (None: the built-in one), with errors naming the flag."""
    from instructedit.instructions import load_instruction_set

    if not path:
        return None
    try:
        return load_instruction_set(path)
    except (OSError, ValueError) as err:
        raise ValueError(f"--instruction-set: {path} is not a usable instruction-set file ({err}); pass a JSON "
                         "object mapping tasks to 10 descriptions, e.g. one `instructions optimize` wrote") from err


def _eval(args) -> int:
    from instructedit.data.loaders import load_records
    from instructedit.data.tasks import load_split
    from instructedit.evaluation.evaluate import evaluate, markdown_table, write_results

    catalog = _instruction_set(args.instruction_set)
    results = {}
    for editor_dir in args.editor:
        model, tokenizer, editor = _load(editor_dir, args.model)
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


def _edit(args) -> int:
    from instructedit.api import edit_and_report
    from instructedit.data.records import EditRecord, Probe

    catalog = _instruction_set(args.instruction_set)
    model, tokenizer, editor = _load(args.editor, args.model)
    record = EditRecord(task=args.task, prompt=args.prompt, target=args.target, subject=args.subject or "",
                        rephrases=tuple(args.rephrase or ()),
                        locality=tuple(Probe(p, a) for p, a in (args.locality or [])),
                        topic=args.topic or "", label=args.label or "")
    report = edit_and_report(model, tokenizer, editor, record, args.instruction, catalog)
    sys.stdout.write(json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n")
    return 0


def _instructions(args) -> int:
    action = getattr(args, "action", None)
    if action in ("optimize", "compare"):
        return (_instructions_optimize if action == "optimize" else _instructions_compare)(args)
    from instructedit.instructions import CATALOG, TASK_NAMES, UNSEEN_INDEX, load_instruction_set

    catalog = load_instruction_set(args.file) if args.file else CATALOG
    for task, items in catalog.items():
        if args.task and task != args.task:
            continue
        sys.stdout.write(f"{TASK_NAMES.get(task, task)}\n")
        for i, text in enumerate(items):
            sys.stdout.write(f"  {i}{' (unseen)' if i == UNSEEN_INDEX else ''}: {text}\n")
    return 0


def _instructions_optimize(args) -> int:
    from workbench.instruction_search import InstructionSearch, ProposerOptions, SearchConfig

    options = ProposerOptions(base_url=args.base_url, model=args.proposer_model, api_key_env=args.api_key_env,
                              timeout_s=args.timeout, retries=args.retries, temperature=args.temperature)
    config = SearchConfig(task=args.task, editor=args.editor, out_dir=args.out or f"runs/instructions/{args.task}",
                          proposer=args.proposer, data=args.data, format=args.format, model=args.model,
                          description=args.description, instruction_set=args.file, val_records=args.val_records,
                          rounds=args.rounds, candidates_per_round=args.candidates, patience=args.patience,
                          weights=tuple(float(w) for w in _csv(args.weights)), batch_size=args.batch_size,
                          seed=args.seed, fallback=not args.no_fallback, proposer_options=options)
    result = InstructionSearch(config).run()
    best, ref = result["best"], result["reference"]
    log.info("best (%.4f): %s", best["score"] if best else float("nan"), best["text"] if best else "none")
    if ref:
        log.info("catalog description 0 (%.4f): %s", ref["score"], ref["text"])
    sys.stdout.write(json.dumps({k: result[k] for k in ("best", "reference", "stopped")}, indent=2) + "\n")
    return 0


def _instructions_compare(args) -> int:
    from workbench.instruction_search import CompareOptions, compare

    options = CompareOptions(fresh=args.fresh, fresh_records=args.fresh_records, resamples=args.resamples,
                             seed=args.seed)
    report = compare(args.out, options)
    for name, ci in report["paired_bootstrap_95ci_best_minus"].items():
        log.info("best - %s: %+.2f points [%+.2f, %+.2f]", name, 100 * ci["difference"], 100 * ci["ci_low"],
                 100 * ci["ci_high"])
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    return 0


def _analyze(args) -> int:
    from analysis.directions import CollectOptions
    from analysis.report import run_analysis

    options = CollectOptions(weight=args.weight, pooling=args.pooling, n=args.n, instruction=args.instruction)
    report = run_analysis(args.editors, args.tasks, args.method, args.out, args.format, options, args.model)
    for row in report["u_tilde"]:
        log.info("%s: silhouette %.3f, k-NN accuracy %.3f", row["editor"], row["silhouette"], row["knn_accuracy"])
    return 0


def _reproduce(args) -> int:
    from workbench.experiments.reproduce import reproduce

    plan = reproduce(quick=args.quick, editors=args.editors, experiments=args.experiments,
                     root=Path(args.root) if args.root else None, limit=args.limit, train=not args.no_train)
    log.info("results in %s", plan.results)
    return 0


def _sweep(args) -> int:
    from workbench.experiments.sweep import sweep

    log.info("wrote %s", sweep(args.variants, Path(args.root) if args.root else None))
    return 0


def _figures(args) -> int:
    from analysis.paper import paper_figures, ship_directions
    from instructedit.models.loading import load_model
    from instructedit.paths import ASSETS_DIR, PROJECT_DIR

    directions = Path(args.directions)
    if args.collect:
        model, tokenizer = load_model()
        ship_directions(Path(args.editors_dir or ASSETS_DIR / "editors"), directions, model, tokenizer, args.n,
                        cache_dir=PROJECT_DIR / "cache" / "directions")
    written = paper_figures(Path(args.results), directions, Path(args.out), args.format, args.method)
    log.info("wrote %d files to %s", len(written), args.out)
    return 0


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _args_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="YAML file, e.g. configs/instructedit.yaml")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. editor.rank=64")


def _args_eval(p: argparse.ArgumentParser) -> None:
    p.add_argument("--editor", action="append", required=True, help="editor directory (repeat to compare)")
    p.add_argument("--data", help="data file; default: the task's frozen test split")
    p.add_argument("--format", choices=["counterfact", "zsre", "recent", "convsent"])
    p.add_argument("--task", default="counterfact", help="task whose test split to use when --data is absent")
    p.add_argument("--instruction", default="seen", help="seen | unseen | none | 0-9 | free text")
    p.add_argument("--limit", type=int, help="first N records only")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--generation", action="store_true", help="ConvSent fluency and sentiment of generations")
    p.add_argument("--instruction-set", metavar="FILE",
                   help="instruction-set JSON in place of the built-in catalog (e.g. from `instructions optimize`)")
    p.add_argument("--model", help="model spec (default: the one the editor was trained on)")
    p.add_argument("--out", help="write <out>.json and <out>.md")


def _args_edit(p: argparse.ArgumentParser) -> None:
    p.add_argument("--editor", required=True)
    p.add_argument("--prompt", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--task", default="counterfact", choices=["counterfact", "recent", "convsent", "zsre"])
    p.add_argument("--subject")
    p.add_argument("--rephrase", action="append")
    p.add_argument("--locality", nargs=2, action="append", metavar=("PROMPT", "ANSWER"))
    p.add_argument("--topic")
    p.add_argument("--label", choices=["positive", "negative"])
    p.add_argument("--instruction", default="seen", help="seen | unseen | none | 0-9 | free text")
    p.add_argument("--instruction-set", metavar="FILE", help="instruction-set JSON in place of the built-in catalog")
    p.add_argument("--model")


def _args_analyze(p: argparse.ArgumentParser) -> None:
    p.add_argument("--editors", type=_csv, required=True, help="comma-separated editor directories")
    p.add_argument("--tasks", type=_csv, default=["recent", "counterfact", "zsre"])
    p.add_argument("--method", choices=["pca", "tsne", "umap"], default="pca")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--format", type=_csv, default=["html", "png", "pdf"], help="html,png,pdf,svg")
    p.add_argument("--n", type=int, default=100, help="test records per task")
    p.add_argument("--instruction", default="seen", help="for instruct editors: seen | unseen | 0-9 | text")
    p.add_argument("--weight", help="edited weight name (default: up-projection of the last edited block)")
    p.add_argument("--pooling", choices=["mean", "sum", "last"], default="mean")
    p.add_argument("--model", help="model spec (default: the one the first editor was trained on)")


def _args_figures(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results", default="assets/results")
    p.add_argument("--directions", default="assets/directions/shipped.safetensors")
    p.add_argument("--collect", action="store_true", help="(re)collect the shipped editors' directions first")
    p.add_argument("--editors-dir", help="folder of editors to collect from (default assets/editors)")
    p.add_argument("--n", type=int, default=100, help="test records per task when collecting")
    p.add_argument("--method", choices=["pca", "tsne", "umap"], default="pca")
    p.add_argument("--out", default="assets/figures")
    p.add_argument("--format", type=_csv, default=["html", "png", "pdf"])


def _args_reproduce(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="the same pipeline on tiny subsets, into runs/quick")
    p.add_argument("--editors", type=_csv, help="only these suite editors")
    p.add_argument("--experiments", type=_csv, help="only these experiments")
    p.add_argument("--root", help="folder for runs (default: runs/, or runs/quick with --quick)")
    p.add_argument("--limit", type=int, help="at most N test records per task in every experiment")
    p.add_argument("--no-train", action="store_true",
                   help="train nothing: evaluate the editors already trained in runs/ or shipped in assets/editors")


def _args_instructions_list(p: argparse.ArgumentParser, default=None) -> None:
    p.add_argument("--task", default=default)
    p.add_argument("--file", default=default, help="instruction-set JSON to list instead of the built-in catalog")


def _args_instructions_optimize(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", required=True, choices=["counterfact", "recent", "convsent", "zsre"])
    p.add_argument("--editor", required=True, help="trial editor (instruct mode), e.g. assets/editors/instructedit")
    p.add_argument("--data", help="records file for the validation slice (default: the task's train split)")
    p.add_argument("--format", choices=["counterfact", "zsre", "recent", "convsent"])
    p.add_argument("--proposer", choices=["rule", "local", "openai"], default="rule",
                   help="rule-based (deterministic), local (SmolLM2 chat model) or openai (compatible endpoint)")
    p.add_argument("--out", help="output folder, resumable (default runs/instructions/<task>)")
    p.add_argument("--description", help="what the task does (default: a built-in one-sentence brief)")
    p.add_argument("--file", help="base instruction-set JSON (default: the built-in catalog)")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--candidates", type=int, default=5, help="new candidates per round")
    p.add_argument("--patience", type=int, default=2, help="stop after this many rounds without improvement")
    p.add_argument("--val-records", type=int, default=30, help="last N train records score each candidate")
    p.add_argument("--weights", default="1,1,1", help="reliability,generalization,locality weights of the score")
    p.add_argument("--base-url", default="http://127.0.0.1:8000/v1", help="openai proposer: endpoint base URL")
    p.add_argument("--proposer-model", help="openai: model name; local: model spec (default smollm2-135m)")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", help="openai: environment variable with the key")
    p.add_argument("--timeout", type=float, default=30.0, help="proposer request timeout, seconds")
    p.add_argument("--retries", type=int, default=2)
    p.add_argument("--temperature", type=float, default=0.8, help="proposer sampling temperature (0 = greedy)")
    p.add_argument("--no-fallback", action="store_true", help="no rule-based proposals when the proposer fails")
    p.add_argument("--model", help="base model spec (default: the one the editor was trained on)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)


def _args_instructions_compare(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="a finished search's folder (with result.json)")
    p.add_argument("--fresh", action="store_true",
                   help="compare on train records just before the search's slice, never seen by the search "
                        "(writes comparison-fresh.json; default: the search's own slice, comparison.json)")
    p.add_argument("--fresh-records", type=int, help="how many fresh records (default: twice the search's slice)")
    p.add_argument("--resamples", type=int, default=2000, help="paired bootstrap resamples")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")


def _args_sweep(p: argparse.ArgumentParser) -> None:
    p.add_argument("--variants", type=_csv, help="only these variants (default: all; see workbench/experiments/sweep.py)")
    p.add_argument("--root", help="folder for the sweep's runs (default runs/sweep)")


def _args_instructions(p: argparse.ArgumentParser) -> None:
    _args_instructions_list(p)
    actions = p.add_subparsers(dest="action", metavar="{list,optimize,compare}")
    _args_instructions_list(actions.add_parser("list", help="list the catalog (the default)"), argparse.SUPPRESS)
    _args_instructions_optimize(actions.add_parser("optimize", help="write and improve a task's instructions"))
    _args_instructions_compare(actions.add_parser(
        "compare", help="a finished search's best instruction vs catalog descriptions 0 and 9, paired over records"))


COMMANDS = {
    "train": ("meta-train an editor from a YAML config", _args_train, _train),
    "eval": ("evaluate editors on a test set (JSON + markdown)", _args_eval, _eval),
    "edit": ("make one edit and print before/after and its metrics", _args_edit, _edit),
    "analyze": ("editing-gradient directions: separation scores and figures", _args_analyze, _analyze),
    "figures": ("the paper's figures (Fig. 2a-d, 3, Table 3) from results and shipped editors", _args_figures, _figures),
    "reproduce": ("train the editor suite and write every result (resumable)", _args_reproduce, _reproduce),
    "sweep": ("a small logged sweep on validation splits (ranks): assets/results/sweep.md", _args_sweep, _sweep),
    "instructions": ("list the instruction catalog (`list`, the default), optimise a task's (`optimize`) or "
                     "compare a search's best with the catalog (`compare`)",
                     _args_instructions, _instructions),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="instructedit", description="Instruction-based knowledge editing (MEND + instructions)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_arguments, run) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text)
        add_arguments(command)
        command.set_defaults(run=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError, ModuleNotFoundError) as err:
        log.error("%s", err)
        return 2


if __name__ == "__main__":
    sys.exit(main())
