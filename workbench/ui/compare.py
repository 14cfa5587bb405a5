"""The Edit tab's computation, free of Gradio: one record edited by one or more (editor, instruction)
columns, each from the unchanged base model, with the plain prompt's continuations, the locality probes'
continuations before and after, and a verdict in words per column (`verdict.py`).

Every column is `instructedit.api.edit_and_report` (the library's one path for an edit: the instruction
resolved by the editor contract, every probe scored before/after); this module only picks what a column
shows, so the app's numbers equal the CLI `edit` command's and `instructedit eval`'s for the same input.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from instructedit.api import EditReport, edit_and_report
from instructedit.data.records import EditRecord
from instructedit.editor.contract import EditorContract
from instructedit.evaluation.batched_generation import generate_batch, generate_ids_batch
from instructedit.evaluation.generation_metrics import locality_budget
from instructedit.instructions import Instruction
from workbench.ui.neighbours import Suggestion
from workbench.ui.verdict import NeighbourText, Verdict, verdict

SHOWN_KINDS = ("reliability", "generalization", "locality")
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class ColumnSpec:
    """One after-edit column: a title, the editor (and its name), the instruction asked for (the editor
    contract decides what the editor is given) and the catalog an instruction index refers to (None: the
    built-in one)."""

    title: str
    editor_name: str
    editor: EditorContract
    instruction: Instruction
    catalog: dict | None = None


@dataclass
class ProbeRow:
    kind: str
    prompt: str
    answer: str


@dataclass
class ColumnResult:
    spec: ColumnSpec
    report: EditReport
    description: str | None
    neighbours: list[NeighbourText] = field(default_factory=list)
    verdict: Verdict | None = None

    @property
    def wrapped(self) -> bool:
        """Whether the editor read the prompt wrapped with an instruction (else it read the plain prompt)."""
        return self.description is not None

    @property
    def plain_after(self) -> str:
        """The plain prompt's greedy continuation after the edit."""
        return self.report.plain_after if self.wrapped and self.report.plain_after is not None else self.report.after

    @property
    def prompt_text(self) -> str:
        return self.report.prompt_text

    @property
    def continuation(self) -> str:
        return self.report.after

    @property
    def scores(self) -> dict:
        return self.report.scores

    @property
    def pre_p(self) -> list[float]:
        return [p.pre_p for p in self.report.probes if p.kind in SHOWN_KINDS]

    @property
    def post_p(self) -> list[float]:
        return [p.post_p for p in self.report.probes if p.kind in SHOWN_KINDS]


@dataclass
class Comparison:
    """`before`: the base model on the first column's (wrapped) prompt; `plain_before`: on the plain prompt;
    `suggestion`: the locality probes the app added (None: the user gave them)."""

    record: EditRecord
    probes: list[ProbeRow]
    before_prompt: str
    before: str
    columns: list[ColumnResult] = field(default_factory=list)
    plain_before: str = ""
    suggestion: Suggestion | None = None

    @property
    def before_p(self) -> list[float]:
        return self.columns[0].pre_p


def probe_rows(report: EditReport) -> list[ProbeRow]:
    """The shown probes in the library's order: the edit prompt, the paraphrases, the locality probes."""
    return [ProbeRow(p.kind, p.prompt, p.answer) for p in report.probes if p.kind in SHOWN_KINDS]


def _shown_description(description: str | None, record: EditRecord) -> str | None:
    """The instruction as the editor reads it (ConvSent placeholders filled in, as `render` does)."""
    if description is None:
        return None
    return description.replace("[LABEL]", record.label or "given").replace("[TOPIC]", record.topic or "the topic")


def run_column(model, tokenizer, spec: ColumnSpec, record: EditRecord, max_new_tokens: int) -> ColumnResult:
    """One column: the library's edit report for this (editor, instruction), without the wrapped before pass
    (the plain prompt's continuations before and after come with it)."""
    report = edit_and_report(model, tokenizer, spec.editor, record, spec.instruction, spec.catalog,
                             max_new_tokens, continue_before=False, plain=True)
    return ColumnResult(spec, report, _shown_description(report.example.description, record))


def _locality_texts(model, tokenizer, record: EditRecord, edit) -> list[tuple[list[int], str]]:
    """(ids, text) of every locality probe's greedy continuation: answer length + 3 tokens, as the generation
    metrics' locality reads it."""
    prompts = [p.prompt for p in record.locality]
    budgets = [locality_budget(tokenizer, p.prompt, p.answer) for p in record.locality]
    ids = generate_ids_batch(model, tokenizer, prompts, edit, None, budgets)
    return [(row, tokenizer.decode(row, skip_special_tokens=True)) for row in ids]


def _judge(column: ColumnResult, record: EditRecord, plain_before: str, wrapped_before: str | None) -> None:
    column.verdict = verdict(record.target, plain_before, column.plain_after, column.neighbours,
                             wrapped_before if column.wrapped else None,
                             column.report.after if column.wrapped else None)


def compare(model, tokenizer, record: EditRecord, specs: list[ColumnSpec], max_new_tokens: int = 20,
            progress: Progress | None = None, suggestion: Suggestion | None = None) -> Comparison:
    """The before column (base model on the plain prompt and on the first column's wrapped prompt) and one
    after column per spec, each with its locality probes' continuations and its verdict."""
    report = progress or (lambda fraction, desc: None)
    columns = []
    for i, spec in enumerate(specs):
        report(0.1 + 0.6 * i / len(specs), f"editing ({spec.title}): computing the edit, scoring every probe, "
                                            "continuing the prompt")
        columns.append(run_column(model, tokenizer, spec, record, max_new_tokens))
    report(0.7, "generating: the prompt and the locality probes before the edit")
    first = columns[0]
    wrapped_before = generate_batch(model, tokenizer, [first.prompt_text], None, max_new_tokens=max_new_tokens)[0]
    plain_before = first.report.plain_before if first.wrapped else wrapped_before
    before_locality = _locality_texts(model, tokenizer, record, None)
    report(0.8, "generating: the locality probes after each edit")
    for column in columns:
        after = _locality_texts(model, tokenizer, record, column.report.edit)
        column.neighbours = [NeighbourText(p.prompt, pre_text, post_text, pre_ids == post_ids)
                             for p, (pre_ids, pre_text), (post_ids, post_text) in zip(record.locality, before_locality, after)]
    report(0.95, "scoring: the verdicts")
    for i, column in enumerate(columns):
        _judge(column, record, plain_before, wrapped_before if i == 0 else None)
    return Comparison(record, probe_rows(first.report), first.prompt_text, wrapped_before, columns, plain_before,
                      suggestion)
