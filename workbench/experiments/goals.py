"""The generation goals of issue #13, checked on `figure3.json` (the shipped `instructedit`, real test
splits, seen and unseen instruction): what the edited model says, not only its token accuracies."""
from __future__ import annotations

from dataclasses import dataclass

from instructedit.evaluation.schema import TASK_LABELS, metric_label, result_cell

SEEN, UNSEEN = "instructedit (seen)", "instructedit (unseen)"
FACT_TASKS = ("counterfact", "recent")
ALL_TASKS = ("counterfact", "recent", "zsre")


@dataclass(frozen=True)
class Goal:
    metric: str
    tasks: tuple[str, ...]
    at_least: float | None = None   # shown units: percent, or the ratio for fluency_ratio
    at_most: float | None = None

    def met(self, value: float) -> bool:
        return (self.at_least is None or value >= self.at_least) and (self.at_most is None or value <= self.at_most)

    @property
    def bound(self) -> str:
        return f">= {self.at_least:g}" if self.at_least is not None else f"<= {self.at_most:g}"


GOALS = (
    Goal("gen_reliability", FACT_TASKS, at_least=80), Goal("gen_reliability", ("zsre",), at_least=75),
    Goal("gen_locality_unrelated", FACT_TASKS, at_least=90),
    Goal("gen_locality", ("zsre",), at_least=90),  # zsRE's locality prompts (NQ questions) are all unrelated
    Goal("gen_locality_neighbour", FACT_TASKS, at_least=85),
    Goal("gen_leak", ALL_TASKS, at_most=5), Goal("degenerate", ALL_TASKS, at_most=5),
    Goal("fluency_ratio", ALL_TASKS, at_least=0.95),
)
UNSEEN_GAP = 5.0  # the unseen instruction's generation success at most this far below the seen one's


def _verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("met" if ok else "missed")


def goal_rows(figure3: dict) -> list[str]:
    rows = []
    for goal in GOALS:
        for task in goal.tasks:
            got = result_cell(figure3, SEEN, task, goal.metric)
            rows.append(f"| {metric_label(goal.metric)} {goal.bound} | {TASK_LABELS[task]} | {got or '–'} | "
                        f"{_verdict(None if got is None else goal.met(got.mean))} |")
    for task in ALL_TASKS:
        seen, unseen = (result_cell(figure3, key, task, "gen_reliability") for key in (SEEN, UNSEEN))
        ok = None if seen is None or unseen is None else seen.mean - unseen.mean <= UNSEEN_GAP
        shown = "–" if ok is None else f"{unseen.mean:.1f} vs seen {seen.mean:.1f}"
        rows.append(f"| unseen instruction: {metric_label('gen_reliability')} within {UNSEEN_GAP:g} of seen | "
                    f"{TASK_LABELS[task]} | {shown} | {_verdict(ok)} |")
    return rows


def goals_section(figure3: dict) -> list[str]:
    """The goals table (every row 'not measured' without figure3.json's generation metrics)."""
    return ["## Generation goals (issue #13), checked", "",
            "The shipped `instructedit` on the real test splits (`figure3.json`), seen instruction unless the row "
            "says otherwise; in %, fluency vs base as a ratio, with 95% bootstrap intervals.", "",
            "| goal | task | measured | verdict |", "|---|---|---|---|", *goal_rows(figure3), ""]
