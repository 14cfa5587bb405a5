"""The Edit tab's computation, free of Gradio: one record edited by one or more (editor, instruction)
columns, each from the unchanged base model, with per-probe target probabilities before and after.

Every column makes its own Edit (a value; the shared model is never written) and is scored with the
library's own metric code, so the numbers equal `instructedit.api.edit_and_report` for the same input.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from ..api import make_edit
from ..data.records import EditRecord
from ..editor.editor import Editor
from ..evaluation.generation import greedy_continuation
from ..evaluation.metrics import gather_probes, pre_post_scores, record_scores
from ..instructions import Instruction
from ..tokenize import IGNORE

SHOWN_KINDS = ("reliability", "generalization", "locality")
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class ColumnSpec:
    """One after-edit column: a title, the editor (and its name), the instruction it is given and the catalog
    an instruction index refers to (None: the built-in one)."""

    title: str
    editor_name: str
    editor: Editor
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
    description: str | None
    prompt_text: str
    continuation: str
    scores: dict
    pre_p: list[float]
    post_p: list[float]


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


def probe_rows(record: EditRecord) -> list[ProbeRow]:
    """The probes in the library's order: the edit prompt, the paraphrases, the locality probes."""
    rows = [ProbeRow("reliability", record.prompt, record.target)]
    rows += [ProbeRow("generalization", text, record.target) for text in record.rephrases]
    rows += [ProbeRow("locality", probe.prompt, probe.answer) for probe in record.locality]
    return rows


def resolve_instruction(editor: Editor, wanted: Instruction) -> Instruction:
    """Editors trained without instructions (MEND) are given none, as in training."""
    return wanted if editor.config.uses_instructions else Instruction()


def _shown_description(description: str | None, record: EditRecord) -> str | None:
    """The instruction as the editor reads it (ConvSent placeholders filled in, as `render` does)."""
    if description is None:
        return None
    return description.replace("[LABEL]", record.label or "given").replace("[TOPIC]", record.topic or "the topic")


def _prompt_text(tokenizer, pair) -> str:
    ids, labels = pair
    return tokenizer.decode([t for t, lab in zip(ids, labels) if lab == IGNORE], skip_special_tokens=True)


@torch.no_grad()
def run_column(model, tokenizer, spec: ColumnSpec, record: EditRecord, max_new_tokens: int) -> ColumnResult:
    """Edit, score every probe before/after (one batched pass each) and continue the prompt greedily."""
    edit, example = make_edit(model, tokenizer, spec.editor, record, spec.instruction, spec.catalog)
    probes = gather_probes([example])
    start = getattr(spec.editor, "first_block", 0)
    pre, post, unchanged = pre_post_scores(model, probes, tokenizer.pad_token_id, edit, start)
    scores = record_scores(example, 0, probes, pre, post, unchanged)
    shown = [i for i, kind in enumerate(probes.kind) if kind in SHOWN_KINDS]
    prompt_text = _prompt_text(tokenizer, example.edit)
    continuation = greedy_continuation(model, tokenizer, prompt_text, edit, max_new_tokens)
    return ColumnResult(spec, _shown_description(example.description, record), prompt_text, continuation, scores,
                        [float(pre["sum_logprob"][i].exp()) for i in shown],
                        [float(post["sum_logprob"][i].exp()) for i in shown])


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
    return Comparison(record, probe_rows(record), columns[0].prompt_text, before, columns)
