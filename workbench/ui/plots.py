"""What the Edit tab draws: the per-probe probability chart and the token-level diff (the cards: `cards.py`)."""
from __future__ import annotations

import difflib
import html
import math

import plotly.graph_objects as go

from workbench.ui.compare import Comparison

KIND_NAMES = {"reliability": "Edit prompt", "generalization": "Paraphrase", "locality": "Locality"}
BAR_COLOURS = ("#9e9e9e", "#5e945e", "#6b6bff", "#d8412f")
CHANGED = "changed"
_LABEL_CHARS = 28


def _short(text: str, limit: int = _LABEL_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def probe_labels(comparison: Comparison) -> list[str]:
    counts: dict[str, int] = {}
    labels = []
    for row in comparison.probes:
        counts[row.kind] = counts.get(row.kind, 0) + 1
        name = KIND_NAMES.get(row.kind, row.kind)
        number = "" if row.kind == "reliability" else f" {counts[row.kind]}"
        labels.append(f"{name}{number}: {_short(row.answer, 14)}")
    return labels


def probe_chart(comparison: Comparison) -> go.Figure:
    """Grouped bars: p(answer | probe) before the edit and after each column's edit (log scale)."""
    labels = [label.replace(": ", ":<br>", 1) for label in probe_labels(comparison)]  # two short lines, upright
    hover = [f"{html.escape(_short(r.prompt, 60))} → {html.escape(_short(r.answer, 30))}" for r in comparison.probes]
    series = [("Before the edit", comparison.before_p)]
    series += [(f"After: {c.spec.title}", c.post_p) for c in comparison.columns]
    fig = go.Figure()
    for (name, values), colour in zip(series, BAR_COLOURS):
        fig.add_trace(go.Bar(x=labels, y=[max(v, 1e-12) for v in values], name=name, marker_color=colour,
                             customdata=hover, text=[f"{v:.2g}" for v in values], textposition="outside",
                             textfont={"size": 9}, cliponaxis=False, hovertemplate="%{customdata}<br>p = %{y:.3g}<extra>%{fullData.name}</extra>"))
    positive = [max(v, 1e-12) for _, values in series for v in values]
    low, high = math.log10(min(positive)), math.log10(max(positive))
    fig.update_layout(barmode="group", template="simple_white", height=380, margin={"l": 60, "r": 20, "t": 50, "b": 40},
                      title="Probability of the answer, per probe",
                      legend={"orientation": "h", "y": -0.22, "yanchor": "top"},
                      xaxis={"tickangle": 0, "automargin": True, "tickfont": {"size": 10}},
                      yaxis={"type": "log", "title": "p(answer) (log scale)", "exponentformat": "power",
                             "range": [low - 0.3, high + 0.4]})  # in decades: room for the bar labels
    return fig


def _spans(tokenizer, text: str) -> tuple[list[int], list[tuple[int, int]]]:
    enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
    return list(enc["input_ids"]), list(enc["offset_mapping"])


def token_diff(tokenizer, before: str, after: str) -> list[tuple[str, str | None]]:
    """`after` cut at token boundaries, each piece labelled `changed` when its token is not in `before`'s place.

    The alignment is difflib's on token ids; whitespace between tokens joins the following piece.
    """
    before_ids, _ = _spans(tokenizer, before)
    after_ids, offsets = _spans(tokenizer, after)
    labels = [CHANGED] * len(after_ids)
    matcher = difflib.SequenceMatcher(a=before_ids, b=after_ids, autojunk=False)
    for block in matcher.get_matching_blocks():
        for j in range(block.b, block.b + block.size):
            labels[j] = None
    pieces: list[tuple[str, str | None]] = []
    cursor = 0
    for (_, end), label in zip(offsets, labels):
        if end <= cursor:
            continue
        piece, cursor = after[cursor:end], end
        if pieces and pieces[-1][1] == label:
            pieces[-1] = (pieces[-1][0] + piece, label)
        else:
            pieces.append((piece, label))
    if cursor < len(after):
        pieces.append((after[cursor:], None))
    return pieces
