"""One edit, end to end: a record and an instruction in, the edit and its before/after report out."""
from __future__ import annotations

from dataclasses import dataclass

from .data.records import EditRecord
from .editor.edit import Edit
from .editor.editor import Editor
from .evaluation.generation import greedy_continuation
from .evaluation.metrics import edit_examples, score_examples
from .instructions import Instruction
from .prompts import Example, build_example
from .tokenize import DEFAULT_MAX_TOKENS


@dataclass
class EditReport:
    edit: Edit
    example: Example
    scores: dict
    prompt_text: str
    before: str
    after: str

    def as_dict(self) -> dict:
        return {"prompt": self.prompt_text, "before": self.before, "after": self.after, **self.scores}


def make_edit(model, tokenizer, editor: Editor, record: EditRecord, instruction="seen",
              catalog: dict | None = None, max_tokens: int = DEFAULT_MAX_TOKENS) -> tuple[Edit, Example]:
    """The Edit for one record (the shared model is not changed) and its tokenised example."""
    example = build_example(record, tokenizer, Instruction.parse(instruction), catalog, max_tokens)
    return edit_examples(model, editor, [example], tokenizer.pad_token_id), example


def edit_and_report(model, tokenizer, editor: Editor, record: EditRecord, instruction="seen",
                    catalog: dict | None = None, max_new_tokens: int = 20) -> EditReport:
    """Make the edit and report greedy continuations before/after and the record's metrics."""
    edit, example = make_edit(model, tokenizer, editor, record, instruction, catalog)
    scores = score_examples(model, editor, [example], tokenizer.pad_token_id, edit)[0]
    prompt_text = tokenizer.decode([t for t, lab in zip(*example.edit) if lab == -100], skip_special_tokens=True)
    before = greedy_continuation(model, tokenizer, prompt_text, None, max_new_tokens)
    after = greedy_continuation(model, tokenizer, prompt_text, edit, max_new_tokens)
    return EditReport(edit, example, scores, prompt_text, before, after)
