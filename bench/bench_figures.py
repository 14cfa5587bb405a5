"""Time drawing every analysis figure from a synthetic DirectionSet of realistic size.

5 editors x 4 tasks x 100 vectors, d=1536 (GPT-2/SmolLM-sized MLP inputs). Prints one
JSON object: seconds per figure and the total (goal: total < 30 s).

Run from the repository root:  python -m bench.bench_figures [--export DIR]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis import paper_numbers
from analysis.directionset import DirectionSet
from analysis.export import export_figures
from analysis.figures import direction_panels, fig_seen_unseen, fig_table3, fig_task_scaling
from analysis.separation import separation_by_editor
from analysis.synthetic import synthetic_directionset

logger = logging.getLogger("bench_figures")

GOAL_TOTAL_S = 30.0
FIG2_TASKS = ["Recent", "CounterFact", "zsRE"]
PANELS_2A = [["InstructEdit", "MEND (multi-task)"], ["MEND (multi-task)", "MEND (single-task)"]]
PANELS_2B = [["InstructEdit (Recent)", "InstructEdit"], ["InstructEdit (Recent & CF)", "InstructEdit"]]


def _jitter(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The paper's numbers plus noise and a +-2 interval: stand-ins for our own results."""
    rng = np.random.default_rng(seed)
    out = df.copy()
    out["value"] = out["value"] + rng.normal(0, 2, len(out))
    return out.assign(ci_low=out["value"] - 2.0, ci_high=out["value"] + 2.0)


def _scaling_frame(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [{"n_tasks": n, "task": task, "metric": metric, "value": float(rng.uniform(5, 90))}
            for n in (1, 2, 3) for task in ("Recent", "CounterFact", "zsRE")
            for metric in ("Reliability", "Generalization")]
    return pd.DataFrame(rows)


def figure_builders(dirset: DirectionSet, seed: int) -> dict[str, Callable[[], go.Figure]]:
    """Name -> zero-argument function drawing that figure."""
    return {
        "fig2a_pca": lambda: direction_panels(dirset, PANELS_2A, method="pca", seed=seed, title="Fig. 2a (PCA)",
                                              tasks=FIG2_TASKS),
        "fig2a_tsne": lambda: direction_panels(dirset, PANELS_2A, method="tsne", seed=seed, title="Fig. 2a (t-SNE)",
                                               tasks=FIG2_TASKS),
        "fig2b_pca": lambda: direction_panels(dirset, PANELS_2B, method="pca", seed=seed, title="Fig. 2b (PCA)",
                                              tasks=FIG2_TASKS),
        "fig2b_tsne": lambda: direction_panels(dirset, PANELS_2B, method="tsne", seed=seed, title="Fig. 2b (t-SNE)",
                                               tasks=FIG2_TASKS),
        "fig2c": lambda: fig_task_scaling(_scaling_frame(seed), reference_df=paper_numbers.figure2c_zsre_approx(),
                                          tick_labels={1: "Recent", 2: "+CounterFact", 3: "+ConvSent"}),
        "fig3": lambda: fig_seen_unseen(_jitter(paper_numbers.figure3(), seed), paper_df=paper_numbers.figure3()),
        "table3": lambda: fig_table3(_jitter(paper_numbers.table3(), seed)),
    }


def run(seed: int = 0, export_dir: str | None = None) -> dict[str, object]:
    """Build the data, draw (and optionally export) every figure, return the timings."""
    start = time.perf_counter()
    dirset = synthetic_directionset(per_group=100, dim=1536, seed=seed)
    timings: dict[str, float] = {"build_directionset": time.perf_counter() - start}
    figures: dict[str, go.Figure] = {}
    for name, build in figure_builders(dirset, seed).items():
        tic = time.perf_counter()
        figures[name] = build()
        timings[name] = time.perf_counter() - tic
        logger.info("%s: %.2f s", name, timings[name])
    tic = time.perf_counter()
    separation_by_editor(dirset, seed=seed)
    timings["separation_scores"] = time.perf_counter() - tic
    total = sum(timings.values())
    result: dict[str, object] = {
        "n_vectors": len(dirset), "dim": dirset.dim, "seconds": {k: round(v, 3) for k, v in timings.items()},
        "total_s": round(total, 3), "goal_total_s": GOAL_TOTAL_S, "within_goal": total < GOAL_TOTAL_S,
    }
    if export_dir:
        tic = time.perf_counter()
        export_figures(figures, export_dir)
        result["export_s"] = round(time.perf_counter() - tic, 3)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--export", metavar="DIR", default=None,
                        help="also export every figure (html/png/pdf/svg) to DIR (timed separately as export_s)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log timings to stderr")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.verbose:
        for name in ("bench_figures", "analysis"):
            logging.getLogger(name).setLevel(logging.INFO)
    sys.stdout.write(json.dumps(run(seed=args.seed, export_dir=args.export)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
