"""The verdict in words beside each after-edit column: what the edited model now says, read from greedy text.

One rule, from the generation metrics (`instructedit.evaluation.generation_metrics`):

1. the plain prompt's continuation after the edit is degenerate (`is_degenerate` against the base's):
   "repeats the target" when one line names the target 3+ times, else "loops instead of answering";
2. else it starts with the target (`starts_with_answer`): "now says <target>" ("already said <target>
   before the edit" when the base model did too);
3. else "does not say the target".

Then the neighbours (the locality probes): "leaks into: <prompt>" for every probe whose continuation names
the target after the edit and not before (`is_leak`); else "changes k of n neighbours" where the first
tokens differ from the base model's; else "neighbours unchanged". A wrapped prompt (the instruction the
editor reads) that disagrees with the plain one is named too ("with its instruction: ...").
"""
from __future__ import annotations

from dataclasses import dataclass, field

from instructedit.evaluation.answers import count_answer, is_leak, starts_with_answer
from instructedit.evaluation.degeneration import TARGET_REPEAT_LIMIT, is_degenerate

GOOD, MIXED, BAD = "good", "mixed", "bad"
ICONS = {GOOD: "✅", MIXED: "⚠️", BAD: "❌"}
_PROMPT_CHARS = 60

METRIC_HELP = {
    "Verdict": "read from the greedy continuation of the plain prompt (no instruction) after the edit, and "
               "of every locality probe before and after it",
    "p(target)": "the probability of the target's tokens after the prompt (teacher-forced), before → after",
    "Reliability": "the share of the target's tokens the edited model predicts top-1 after the edit prompt",
    "Generalization": "the same on the paraphrases (prompts that ask for the same fact in other words)",
    "Locality": "the share of the locality probes' answer tokens whose top-1 prediction the edit leaves as it was",
}


@dataclass(frozen=True)
class NeighbourText:
    """One locality probe's greedy continuation before and after the edit; `kept`: the first tokens agree."""

    prompt: str
    before: str
    after: str
    kept: bool


@dataclass(frozen=True)
class Verdict:
    says: str                                  # the first clause, about the edit prompt
    neighbours: str                            # the second clause, about the locality probes ("" if none)
    tone: str                                  # GOOD, MIXED or BAD
    leaks: tuple[str, ...] = field(default=())  # prompts the target leaked into

    @property
    def text(self) -> str:
        return "; ".join(part for part in (self.says, self.neighbours) if part)

    @property
    def markdown(self) -> str:
        return f"{ICONS[self.tone]} **{self.text}**"


def _short(text: str, limit: int = _PROMPT_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def says(target: str, before: str, after: str) -> tuple[str, bool]:
    """(the clause about one continuation, whether it counts as a success)."""
    if is_degenerate(after, (target,), before):
        repeats = any(count_answer(line, (target,)) >= TARGET_REPEAT_LIMIT for line in after.splitlines())
        return ("repeats the target" if repeats else "loops instead of answering"), False
    if starts_with_answer(after, (target,)):
        if starts_with_answer(before, (target,)):
            return f"already said {target} before the edit", True
        return f"now says {target}", True
    return "does not say the target", False


def neighbour_clause(target: str, neighbours: list[NeighbourText]) -> tuple[str, tuple[str, ...]]:
    """(the clause about the locality probes, the prompts the target leaked into)."""
    if not neighbours:
        return "", ()
    leaks = tuple(n.prompt for n in neighbours if is_leak(n.before, n.after, (target,)))
    if leaks:
        return "leaks into: " + ", ".join(f"“{_short(p)}”" for p in leaks), leaks
    changed = sum(not n.kept for n in neighbours)
    if changed:
        return f"changes {changed} of {len(neighbours)} neighbour{'s' if len(neighbours) > 1 else ''}", ()
    return "neighbours unchanged", ()


def verdict(target: str, plain_before: str, plain_after: str, neighbours: list[NeighbourText],
            wrapped_before: str | None = None, wrapped_after: str | None = None) -> Verdict:
    """The rule of the module docstring. `wrapped_*`: the instruction-wrapped prompt's continuations, when the
    editor read one (None: it got the plain prompt)."""
    clause, success = says(target, plain_before, plain_after)
    if wrapped_after is not None:
        wrapped, wrapped_success = says(target, wrapped_before or "", wrapped_after)
        if wrapped_success != success:
            clause += f" (with its instruction: {wrapped})"
    about, leaks = neighbour_clause(target, neighbours)
    clean = not leaks and about in ("", "neighbours unchanged")
    tone = (GOOD if clean else MIXED) if success else BAD
    return Verdict(clause, about, tone, leaks)
