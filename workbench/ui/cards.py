"""What the Edit tab writes: the cards per column (verdict, token metrics), the probe table, notes, the JSON."""
from __future__ import annotations

import html

import pandas as pd

from workbench.ui.compare import ColumnResult, Comparison
from workbench.ui.plots import KIND_NAMES
from workbench.ui.verdict import METRIC_HELP

SOURCE_NAMES = {"reliability": "you", "generalization": "you"}
_DESCRIPTION_CHARS = 90

LEGEND = "  \n".join(f"<small>**{html.escape(name)}**: {html.escape(text)}.</small>"
                     for name, text in METRIC_HELP.items())
WRAPPED_NOTE = ("<small>p(target) is scored on this column's prompt as the editor reads it, wrapped with its own "
                "instruction, so its value before the edit differs between columns with different instructions.</small>")


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def before_card(comparison: Comparison) -> str:
    first = comparison.columns[0]
    scores = first.scores
    where = "with the seen instruction" if first.wrapped else "the plain prompt"
    return (f"**p(target)** = {scores['pre_p_target']:.3g} <small>({where})</small>  \n"
            f"Target tokens predicted (top-1): {_pct(scores['pre_reliability'])}")


def after_card(column: ColumnResult) -> str:
    s = column.scores
    instruction = ("none (this editor was trained without instructions)" if column.description is None
                   else html.escape(_short(column.description, _DESCRIPTION_CHARS)))
    lines = [column.verdict.markdown + "\n" if column.verdict else "",  # its own paragraph
             f"**p(target)** = {s['pre_p_target']:.3g} → **{s['p_target']:.3g}**  ",
             "| Reliability | Generalization | Locality |\n|---|---|---|",
             f"| {_pct(s['reliability'])} | {_pct(s['generalization'])} | {_pct(s['locality'])} |\n",
             f"<small>editor `{html.escape(column.spec.editor_name)}`; instruction: {instruction}</small>"]
    if column.wrapped:
        lines.append(WRAPPED_NOTE)
    return "\n".join(line for line in lines if line)


def notice(comparison: Comparison) -> str:
    """The line above the results: which locality probes the app suggested, if it did."""
    suggestion = comparison.suggestion
    if suggestion is None:
        return ""
    if not suggestion.probes:
        return "No locality probes: none given and none found for this task."
    shown = "; ".join(f"“{html.escape(p.prompt)}” → {html.escape(p.answer)}" for p in suggestion.probes)
    return f"**Locality probes suggested** (the field was empty; {html.escape(suggestion.how)}): {shown}"


def probe_table(comparison: Comparison) -> pd.DataFrame:
    """One row per probe: kind, who gave it, prompt, answer, p(answer) before and after each column's edit."""
    locality_source = f"suggested ({comparison.suggestion.how})" if comparison.suggestion else "you"
    kinds = [p.kind for p in comparison.record.locality]
    rows, local = [], 0
    for i, row in enumerate(comparison.probes):
        kind = KIND_NAMES.get(row.kind, row.kind)
        if row.kind == "locality":
            kind += f" ({kinds[local]})" if local < len(kinds) and kinds[local] else ""
            local += 1
        values = [comparison.before_p[i]] + [c.post_p[i] for c in comparison.columns]
        rows.append([kind, SOURCE_NAMES.get(row.kind, locality_source), row.prompt, row.answer,
                     *(float(f"{v:.3g}") for v in values)])
    headers = ["Probe", "Source", "Prompt", "Answer", "p before"] + [f"p after ({c.spec.title})"
                                                                      for c in comparison.columns]
    return pd.DataFrame(rows, columns=headers)


def summary(comparison: Comparison) -> dict:
    """Everything numeric, for API clients (the `/edit` endpoint's JSON output)."""
    suggestion = comparison.suggestion
    return {
        "record": {"task": comparison.record.task, "prompt": comparison.record.prompt,
                   "target": comparison.record.target},
        "before": {"prompt": comparison.before_prompt, "continuation": comparison.before,
                   "plain_prompt": comparison.record.prompt, "plain_continuation": comparison.plain_before},
        "probes": [{"kind": r.kind, "prompt": r.prompt, "answer": r.answer, "p_before": p}
                   for r, p in zip(comparison.probes, comparison.before_p)],
        "suggested_locality": None if suggestion is None else {
            "how": suggestion.how, "probes": [{"prompt": p.prompt, "answer": p.answer, "kind": p.kind}
                                              for p in suggestion.probes]},
        "columns": [{"title": c.spec.title, "editor": c.spec.editor_name, "instruction": c.description,
                     "prompt": c.prompt_text, "continuation": c.continuation, "plain_continuation": c.plain_after,
                     "verdict": c.verdict.text if c.verdict else None,
                     "verdict_tone": c.verdict.tone if c.verdict else None,
                     "neighbours": [{"prompt": n.prompt, "before": n.before, "after": n.after, "kept": n.kept}
                                    for n in c.neighbours],
                     "scores": c.scores, "p_after": c.post_p, "p_before": c.pre_p}
                    for c in comparison.columns],
    }
