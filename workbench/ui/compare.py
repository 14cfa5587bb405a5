"""The Edit tab's computation, free of Gradio: one record edited by one or more (editor, instruction)
columns, each from the unchanged base model.

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
from instructedit.evaluation.generation import greedy_continuation
from instructedit.instructions import Instruction

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
    record: EditRecord
    probes: list[ProbeRow]
    before_prompt: str
    before: str
    columns: list[ColumnResult] = field(default_factory=list)

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
    """One column: the library's edit report for this (editor, instruction), without the before pass."""
    report = edit_and_report(model, tokenizer, spec.editor, record, spec.instruction, spec.catalog,
                             max_new_tokens, continue_before=False, plain=False)
    return ColumnResult(spec, report, _shown_description(report.example.description, record))


def compare(model, tokenizer, record: EditRecord, specs: list[ColumnSpec], max_new_tokens: int = 20,
            progress: Progress | None = None) -> Comparison:
    """The before column (base model on the first column's prompt) and one after column per spec."""
    report = progress or (lambda fraction, desc: None)
    columns = []
    for i, spec in enumerate(specs):
        report(0.1 + 0.8 * i / len(specs), f"editing: {spec.title}")
        columns.append(run_column(model, tokenizer, spec, record, max_new_tokens))
    report(0.9, "continuing the unedited prompt")
    before = greedy_continuation(model, tokenizer, columns[0].prompt_text, None, max_new_tokens)
    return Comparison(record, probe_rows(columns[0].report), columns[0].prompt_text, before, columns)
