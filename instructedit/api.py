"""One edit, end to end: a record and an instruction in, the edit and its before/after report out.

`edit_and_report` is the library's one path for a single edit: the CLI `edit` command, the app's columns
and scripts all call it and only format what it returns. The instruction is resolved by the editor
contract (`EditorContract.instruction_for`): editors trained without instructions get none.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from .data.records import EditRecord
from .editor.contract import EditorContract, editor_example, make_edits
from .editor.edit import Edit
from .evaluation.generation import greedy_continuation
from .evaluation.metrics import PROBE_KINDS, probe_table
from .instructions import Instruction
from .prompts import Example
from .tokenize import DEFAULT_MAX_TOKENS, IGNORE


@dataclass(frozen=True)
class ProbeOutcome:
    """One probe of the record: its kind, prompt (without instruction) and answer, p(answer) before/after."""

    kind: str
    prompt: str
    answer: str
    pre_p: float
    post_p: float
    pre_accuracy: float
    post_accuracy: float


@dataclass
class EditReport:
    edit: Edit
    example: Example
    instruction: Instruction
    scores: dict
    prompt_text: str
    probes: list[ProbeOutcome]
    before: str | None
    after: str

    def as_dict(self) -> dict:
        return {"prompt": self.prompt_text, "instruction": self.example.description, "before": self.before,
                "after": self.after, **self.scores, "probes": [asdict(p) for p in self.probes]}


def record_probes(record: EditRecord) -> list[tuple[str, str, str]]:
    """(kind, prompt, answer) of every probe, in the order `gather_probes` scores them."""
    groups = {"reliability": [(record.prompt, record.target)],
              "generalization": [(text, record.target) for text in record.rephrases],
              "locality": [(p.prompt, p.answer) for p in record.locality],
              "portability": [(p.prompt, p.answer) for p in record.portability],
              "contrast": [(record.prompt, text) for text in record.contrast]}
    return [(kind, prompt, answer) for kind in PROBE_KINDS for prompt, answer in groups[kind]]


def prompt_text(tokenizer, pair) -> str:
    """The prompt part of a tokenised (ids, labels) pair, as text."""
    ids, labels = pair
    return tokenizer.decode([t for t, lab in zip(ids, labels) if lab == IGNORE], skip_special_tokens=True)


def make_edit(model, tokenizer, editor: EditorContract, record: EditRecord, instruction="seen",
              catalog: dict | None = None, max_tokens: int = DEFAULT_MAX_TOKENS) -> tuple[Edit, Example]:
    """The Edit for one record (the shared model is not changed) and its tokenised example."""
    example = editor_example(editor, record, tokenizer, instruction, catalog, max_tokens)
    return make_edits(model, editor, [example], tokenizer.pad_token_id), example


def edit_and_report(model, tokenizer, editor: EditorContract, record: EditRecord, instruction="seen",
                    catalog: dict | None = None, max_new_tokens: int = 20, continue_before: bool = True) -> EditReport:
    """Make the edit, score every probe before/after, and continue the edit prompt greedily after the edit
    (and before it, unless `continue_before` is False)."""
    edit, example = make_edit(model, tokenizer, editor, record, instruction, catalog)
    table = probe_table(model, editor, [example], tokenizer.pad_token_id, edit)
    probes = [ProbeOutcome(kind, prompt, answer, float(table.pre["sum_logprob"][j].exp()),
                           float(table.post["sum_logprob"][j].exp()), float(table.pre["accuracy"][j]),
                           float(table.post["accuracy"][j]))
              for j, (kind, prompt, answer) in enumerate(record_probes(record))]
    text = prompt_text(tokenizer, example.edit)
    before = greedy_continuation(model, tokenizer, text, None, max_new_tokens) if continue_before else None
    after = greedy_continuation(model, tokenizer, text, edit, max_new_tokens)
    return EditReport(edit, example, editor.instruction_for(instruction), table.record(0, example), text, probes,
                      before, after)
