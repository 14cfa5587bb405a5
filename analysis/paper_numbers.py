"""Numbers reported in the InstructEdit paper, as pandas DataFrames.

Source: Bozhong Tian, Siyuan Cheng, Xiaozhuan Liang, Ningyu Zhang, Yi Hu, Kouying Xue,
Yanjie Gou, Xi Chen, Huajun Chen. "InstructEdit: Instruction-Based Knowledge Editing for
Large Language Models". arXiv:2402.16123 (2024). Table 3 (GPT2-XL main results),
Figure 3 (seen vs unseen instruction), Table 1 (cross-task transfer of single-task
editors) and Figure 2c (task scaling; values read off the plot, so approximate).

These are reference facts for comparison with our own runs; every function returns a
fresh DataFrame, so callers may modify the result.
"""

from __future__ import annotations

import pandas as pd

PAPER_CITATION = "Tian et al., InstructEdit: Instruction-Based Knowledge Editing for LLMs, arXiv:2402.16123 (2024)"

EDITOR_MEND_MULTI = "MEND (multi-task)"
EDITOR_INSTRUCTEDIT = "InstructEdit"

TASK_ORDER: tuple[str, ...] = ("CounterFact", "Recent", "ConvSent", "zsRE")
METRIC_ORDER: tuple[str, ...] = ("Reliability", "Generalization", "Locality", "Portability", "Fluency")

# (task, metric, MEND multi-task, InstructEdit); GPT2-XL; zsRE is held out of training.
_TABLE3: tuple[tuple[str, str, float, float], ...] = (
    ("CounterFact", "Reliability", 74.26, 80.81),
    ("CounterFact", "Generalization", 46.48, 53.16),
    ("CounterFact", "Locality", 58.68, 67.83),
    ("CounterFact", "Portability", 41.88, 50.83),
    ("Recent", "Reliability", 85.62, 85.70),
    ("Recent", "Generalization", 52.76, 51.66),
    ("Recent", "Locality", 57.94, 64.61),
    ("Recent", "Portability", 42.26, 47.36),
    ("ConvSent", "Reliability", 54.67, 65.43),
    ("ConvSent", "Locality", 96.58, 94.27),
    ("ConvSent", "Fluency", 601.93, 617.65),
    ("zsRE", "Reliability", 40.79, 82.83),
    ("zsRE", "Generalization", 31.15, 78.40),
    ("zsRE", "Locality", 94.79, 94.57),
    ("zsRE", "Portability", 45.08, 40.84),
)

# (task, metric, seen, unseen); GPT2-XL InstructEdit.
_FIGURE3: tuple[tuple[str, str, float, float], ...] = (
    ("Recent", "Reliability", 85.7, 84.7),
    ("Recent", "Generalization", 51.6, 47.4),
    ("Recent", "Locality", 64.6, 64.9),
    ("Recent", "Portability", 47.3, 47.0),
    ("CounterFact", "Reliability", 80.8, 80.4),
    ("CounterFact", "Generalization", 53.2, 49.9),
    ("CounterFact", "Locality", 67.8, 68.2),
    ("CounterFact", "Portability", 50.8, 51.0),
)

# (test task, trained on, Reliability, Generalization, Portability); in-domain rows are
# absolute scores, the others are changes relative to the in-domain row.
_TABLE1: tuple[tuple[str, str, float, float, float], ...] = (
    ("CounterFact", "CounterFact", 84.62, 46.01, 42.46),
    ("CounterFact", "Recent", -25.50, -21.34, -7.33),
    ("CounterFact", "zsRE", -25.26, -18.36, -4.79),
    ("zsRE", "zsRE", 96.62, 94.60, 48.85),
    ("zsRE", "Recent", -86.40, -91.33, -0.60),
    ("zsRE", "CounterFact", -56.31, -64.90, -1.35),
)

# Figure 2c, zsRE only, read off the plot (1 = Recent, 2 = +CounterFact, 3 = +ConvSent).
_FIGURE2C_ZSRE: tuple[tuple[int, str, float], ...] = (
    (1, "Reliability", 6.0),
    (2, "Reliability", 48.0),
    (3, "Reliability", 82.8),
    (1, "Generalization", 4.0),
    (2, "Generalization", 42.0),
    (3, "Generalization", 78.4),
)


def table3() -> pd.DataFrame:
    """Table 3 (GPT2-XL) in long form: columns ``task, metric, editor, value``."""
    rows = []
    for task, metric, mend, instructedit in _TABLE3:
        rows.append({"task": task, "metric": metric, "editor": EDITOR_MEND_MULTI, "value": mend})
        rows.append({"task": task, "metric": metric, "editor": EDITOR_INSTRUCTEDIT, "value": instructedit})
    return pd.DataFrame(rows)


def table3_wide() -> pd.DataFrame:
    """Table 3 as printed: columns ``task, metric, MEND (multi-task), InstructEdit``."""
    return pd.DataFrame(_TABLE3, columns=["task", "metric", EDITOR_MEND_MULTI, EDITOR_INSTRUCTEDIT])


def figure3() -> pd.DataFrame:
    """Figure 3 in long form: columns ``task, metric, instruction ("seen"/"unseen"), value``."""
    rows = []
    for task, metric, seen, unseen in _FIGURE3:
        rows.append({"task": task, "metric": metric, "instruction": "seen", "value": seen})
        rows.append({"task": task, "metric": metric, "instruction": "unseen", "value": unseen})
    return pd.DataFrame(rows)


def table1() -> pd.DataFrame:
    """Table 1 in long form: columns ``test_task, trained_on, metric, value, relative``.

    ``relative`` is False for the in-domain rows (absolute scores) and True for the
    cross-task rows (change versus the in-domain editor).
    """
    rows = []
    for test_task, trained_on, *values in _TABLE1:
        for metric, value in zip(("Reliability", "Generalization", "Portability"), values, strict=True):
            relative = trained_on != test_task
            rows.append({"test_task": test_task, "trained_on": trained_on, "metric": metric, "value": value,
                         "relative": relative})
    return pd.DataFrame(rows)


def figure2c_zsre_approx() -> pd.DataFrame:
    """Figure 2c zsRE curves, approximate (read off the plot): ``n_tasks, task, metric, value``."""
    return pd.DataFrame([{"n_tasks": n, "task": "zsRE", "metric": m, "value": v} for n, m, v in _FIGURE2C_ZSRE])


def average_reliability_gain() -> float:
    """Mean InstructEdit-minus-MEND Reliability over Table 3's four tasks (the abstract's 14.86)."""
    wide = table3_wide()
    rel = wide[wide["metric"] == "Reliability"]
    return float((rel[EDITOR_INSTRUCTEDIT] - rel[EDITOR_MEND_MULTI]).mean())
