"""The combined score of an instruction and the human summary of a finished search (`summary.md`)."""
from __future__ import annotations

import math

METRICS = ("reliability", "generalization", "locality")


def combined(metrics: dict, weights: tuple[float, float, float]) -> float | None:
    """The weighted mean of the available metrics (None when none is available)."""
    pairs = [(metrics.get(m), w) for m, w in zip(METRICS, weights)]
    pairs = [(float(v), w) for v, w in pairs if v is not None and math.isfinite(float(v)) and w > 0]
    total = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / total if total else None


def _row(name: str, c: dict | None) -> str:
    if not c:
        return f"| {name} | – | – | – | – | – |"
    cells = " | ".join("–" if c.get(m) is None else f"{100 * c[m]:.1f}" for m in (*METRICS, "score"))
    return f"| {name} | {c['text']} | {cells} |"


def summary_markdown(result: dict, rounds: list[dict]) -> str:
    """A short human summary of a finished search."""
    lines = [f"# Instruction search: {result['task']} ({result['proposer']} proposer)", "",
             f"Stopped: {result['stopped']} after round {result['rounds_run']}; {result['n_scored']} candidates "
             f"scored, {result['n_rejected']} proposals rejected, {result['proposer_errors']} proposer error(s). "
             f"Score = {result['score']} (in %).", "",
             "| | instruction | reliability | generalization | locality | score |", "|---|---|---|---|---|---|",
             _row("best", result["best"]), _row("catalog 0 (reference)", result["reference"]), "",
             "| round | proposers | scored | rejected | errors | improved | seconds |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['round']} | {', '.join(r['proposers'])} | {len(r['candidates'])} | {len(r['rejected'])} | "
              f"{len(r['errors'])} | {'yes' if r['improved'] else 'no'} | {r['elapsed_s']} |" for r in rounds]
    lines += ["", "Top 10 (0-8 become the seen descriptions, 9 the held-out unseen one):", "",
              "| rank | instruction | reliability | generalization | locality | score |", "|---|---|---|---|---|---|"]
    lines += [_row(str(i), c) for i, c in enumerate(result["top10"])]
    return "\n".join(lines) + "\n"
