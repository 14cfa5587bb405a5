"""Readable text of edit outcomes: a probe table per record, continuations before/after, side-by-side columns."""
from __future__ import annotations

import itertools
import shutil
import textwrap

from instructedit.evaluation.schema import metric_label, task_label

# the probe kinds of `api.record_probes`, as a reader calls them
PROBE_LABELS = {"reliability": "edit prompt", "generalization": "paraphrase", "portability": "portability",
                "locality": "locality", "contrast": "contrast"}
SCORE_KEYS = ("reliability", "generalization", "portability", "locality", "sentiment_success")
PROMPT_WIDTH, ANSWER_WIDTH = 52, 18


def clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def probability(p: float) -> str:
    return f"{p:7.2%}" if p >= 1e-4 else f"{p:7.1e}"


def shown(text: str | None) -> str:
    """A continuation on one line, newlines visible."""
    return "–" if text is None else repr(text)[1:-1] if "\n" in text else text


def _header(outcome, index: int, total: int) -> str:
    record = outcome.record
    subject = f" · subject: {record.subject}" if record.subject else ""
    return (f"── edit {index + 1}/{total} · {task_label(record.task)}{subject} · {outcome.mode} · "
            f"\"{clip(record.prompt, 60)}\" → \"{clip(record.target, 30)}\"")


def _probe_lines(outcome) -> list[str]:
    lines = [f"  {'probe':<12} {'prompt':<{PROMPT_WIDTH}} {'answer':<{ANSWER_WIDTH}} p(answer) before → after"]
    for probe in outcome.report.probes:
        lines.append(f"  {PROBE_LABELS.get(probe.kind, probe.kind):<12} {clip(probe.prompt, PROMPT_WIDTH):<{PROMPT_WIDTH}} "
                     f"{clip(probe.answer, ANSWER_WIDTH):<{ANSWER_WIDTH}} {probability(probe.pre_p)} → "
                     f"{probability(probe.post_p)}")
    return lines


def _score_line(scores: dict) -> str:
    parts = [f"{metric_label(key)} {100 * scores[key]:.1f}" for key in SCORE_KEYS if scores.get(key) is not None]
    if scores.get("pre_reliability") is not None:
        parts[0] += f" (before the edit {100 * scores['pre_reliability']:.1f})"
    return "  scores: " + " · ".join(parts)


def record_table(outcome, index: int, total: int) -> str:
    """One record: header, probe table, scores and the greedy continuations before and after the edit."""
    report = outcome.report
    lines = [_header(outcome, index, total), *_probe_lines(outcome), _score_line(report.scores),
             f"  plain prompt, before: {shown(outcome.plain_before)}",
             f"  plain prompt, after:  {shown(outcome.plain_after)}"]
    if not report.instruction.is_none:
        lines.append(f"  with the instruction ({clip(report.example.description or '', 50)}), after: "
                     f"{shown(report.after)}")
    return "\n".join(lines) + "\n"


def side_by_side(left: str, right: str, titles: tuple[str, str] = ("base", "edited"), width: int | None = None) -> str:
    """Two texts in two wrapped columns under their titles."""
    total = width or shutil.get_terminal_size((100, 24)).columns
    column = max(20, (total - 5) // 2)
    wrapped = [textwrap.wrap(shown(text), column) or [""] for text in (left, right)]
    rows = [(titles[0], titles[1]), ("─" * len(titles[0]), "─" * len(titles[1]))]
    rows += list(itertools.zip_longest(*wrapped, fillvalue=""))
    return "\n".join(f"  {a:<{column}} │ {b}".rstrip() for a, b in rows) + "\n"
