"""The Edit tab's computation, free of Gradio: one record edited by one or more (editor, instruction)
columns, each from the unchanged base model, with the plain prompt's continuations, the locality probes'
continuations before and after, and a verdict in words per column (`verdict.py`).

Every column is the library's edit path (`api.make_record_edits` and `api.report_edits`, the halves of
`edit_and_report`: the instruction resolved by the editor contract, every probe scored before/after); this
module only batches: the columns of one editor are edited as rows of one batch (their step searches check
together), and the continuations the comparison needs ride along in that check generation, under the step the
search is checking (`step_search.RideAlong`); only those whose edit settled on another step (or was repaired)
are generated afterwards, in one batch (`Edit.stack`). So the app's numbers are the CLI `edit` command's and
`instructedit eval`'s for the same input (to the last bits of a batched forward: the same texts, scores equal
to 1e-5).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from instructedit.api import EditReport, make_record_edits, prompt_text, report_edits
from instructedit.data.records import EditRecord
from instructedit.editor.contract import EditorContract
from instructedit.editor.edit import Edit
from instructedit.editor.batched_generation import generate_ids_batch, prompt_token_ids
from instructedit.editor.step_search import RideAlong
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


@dataclass
class _Rows:
    """The prompts of the comparison's generation: each with the stacked-edit row it runs under (0: unedited,
    c + 1: column c's edit), its budget and, once known, its continuation ids; and where each part lies."""

    prompts: list[str] = field(default_factory=list)
    owner: list[int] = field(default_factory=list)
    budgets: list[int] = field(default_factory=list)
    rides: list[tuple[range, RideAlong]] = field(default_factory=list)
    base: dict = field(default_factory=dict)        # base prompt text -> row
    base_local: range = range(0)
    columns: dict = field(default_factory=dict)     # column -> (its prompt's row, its plain prompt's rows, locality rows)

    def add(self, prompts: list[str], owner: int, budgets: list[int]) -> range:
        first = len(self.prompts)
        self.prompts += prompts
        self.owner += [owner] * len(prompts)
        self.budgets += budgets
        return range(first, len(self.prompts))


@dataclass
class _Texts:
    """Every continuation of one comparison: the base model's (prompt text -> text, locality rows) and, per
    column, its prompt's, its plain prompt's and its locality probes' under its edit."""

    base: dict
    base_locality: list
    after: list
    plain_after: list
    locality_after: list


def _plan(tokenizer, record: EditRecord, rows: _Rows, columns: list[int], examples: list, max_new_tokens: int) -> RideAlong:
    """The rows of the columns of one editor (the rows of one edit batch), and for the first column the base
    model's rows: the first column's prompt and the plain prompt, the locality probes (answer length + 3
    tokens, as the generation metrics read them). Returned as a ride-along of that editor's step search."""
    first = len(rows.prompts)
    local = [p.prompt for p in record.locality]
    local_budgets = [locality_budget(tokenizer, p.prompt, p.answer) for p in record.locality]
    prompts = [prompt_text(tokenizer, example.edit) for example in examples]
    if 0 in columns:
        base_texts = list(dict.fromkeys([prompts[columns.index(0)], record.prompt]))
        rows.base = dict(zip(base_texts, rows.add(base_texts, 0, [max_new_tokens] * len(base_texts))))
        rows.base_local = rows.add(local, 0, local_budgets)
    for c, prompt, example in zip(columns, prompts, examples):
        plain = [record.prompt] if example.description is not None else []
        rows.columns[c] = (rows.add([prompt], c + 1, [max_new_tokens])[0],
                           rows.add(plain, c + 1, [max_new_tokens] * len(plain)), rows.add(local, c + 1, local_budgets))
    span = range(first, len(rows.prompts))
    ride = RideAlong(prompt_token_ids(tokenizer, [rows.prompts[j] for j in span]),
                     [None if rows.owner[j] == 0 else columns.index(rows.owner[j] - 1) for j in span],
                     [rows.budgets[j] for j in span])
    rows.rides.append((span, ride))
    return ride


def _continuations(model, tokenizer, rows: _Rows, edits: list) -> _Texts:
    """Every row's continuation: from the step searches' ride-alongs where they settled on the step the row
    ran under, the rest in one batched greedy generation (`Edit.stack`: row 0 unedited, row c + 1 under
    column c's edit)."""
    ids: list = [None] * len(rows.prompts)
    for span, ride in rows.rides:
        for j, continued in zip(span, ride.continued):
            ids[j] = continued
    todo = [j for j, got in enumerate(ids) if got is None]
    if todo:
        generated = generate_ids_batch(model, tokenizer, [rows.prompts[j] for j in todo],
                                       Edit.stack([None] + [edit for edit, _ in edits]),
                                       [rows.owner[j] for j in todo], [rows.budgets[j] for j in todo])
        for j, got in zip(todo, generated):
            ids[j] = got
    text = [tokenizer.decode(row, skip_special_tokens=True) for row in ids]

    def pairs(span: range) -> list[tuple[list[int], str]]:
        return [(ids[j], text[j]) for j in span]

    columns = [rows.columns[c] for c in range(len(edits))]
    return _Texts({t: text[j] for t, j in rows.base.items()}, pairs(rows.base_local), [text[a] for a, _, _ in columns],
                  [text[p[0]] if p else None for _, p, _ in columns], [pairs(loc) for _, _, loc in columns])


def _column(model, tokenizer, spec: ColumnSpec, record: EditRecord, edit_and_example, texts: _Texts, c: int,
            max_new_tokens: int) -> ColumnResult:
    """Column c: the library's report of its edit (probes scored here) with the continuations generated."""
    edit, example = edit_and_example
    plain_before = [texts.base[record.prompt]] if example.description is not None else [None]
    report = report_edits(model, tokenizer, spec.editor, [example], edit, spec.editor.instruction_for(spec.instruction),
                          max_new_tokens, continue_before=False,
                          continuations=([None], [texts.after[c]], plain_before, [texts.plain_after[c]]))[0]
    column = ColumnResult(spec, report, _shown_description(report.example.description, record))
    column.neighbours = [NeighbourText(p.prompt, pre_text, post_text, pre_ids == post_ids) for p, (pre_ids, pre_text),
                         (post_ids, post_text) in zip(record.locality, texts.base_locality, texts.locality_after[c])]
    return column


def _judge(column: ColumnResult, record: EditRecord, plain_before: str, wrapped_before: str | None) -> None:
    column.verdict = verdict(record.target, plain_before, column.plain_after, column.neighbours,
                             wrapped_before if column.wrapped else None,
                             column.report.after if column.wrapped else None)


def _edits(model, tokenizer, record: EditRecord, specs: list[ColumnSpec], rows: _Rows, max_new_tokens: int,
           report: Progress) -> list[tuple]:
    """(edit, example) per column. The columns of one editor are made by one `api.make_record_edits` call (rows
    of one batch), so their step searches check together, and every row of the comparison that those columns
    (and, with the first column, the base model) need rides along in that check generation (`_plan`)."""
    groups: dict[int, list[int]] = {}
    for c, spec in enumerate(specs):
        groups.setdefault(id(spec.editor), []).append(c)
    edits: list = [None] * len(specs)
    for done, columns in enumerate(groups.values()):
        titles = ", ".join(specs[c].title for c in columns)
        report(0.03 + 0.7 * done / len(groups), f"editing ({titles}): the edit, its step and the continuations")
        made = make_record_edits(model, tokenizer, specs[columns[0]].editor, record,
                                 [(specs[c].instruction, specs[c].catalog) for c in columns],
                                 ride_for=lambda examples, cols=columns: _plan(tokenizer, record, rows, cols, examples,
                                                                               max_new_tokens))
        for c, edit_and_example in zip(columns, made):
            edits[c] = edit_and_example
    return edits


def compare(model, tokenizer, record: EditRecord, specs: list[ColumnSpec], max_new_tokens: int = 20,
            progress: Progress | None = None, suggestion: Suggestion | None = None) -> Comparison:
    """The before column (base model on the plain prompt and on the first column's wrapped prompt) and one
    after column per spec, each with its locality probes' continuations and its verdict. Each column's edit
    and scores are the library's (`make_record_edits`, `report_edits`, as `edit_and_report`; one edit batch
    per editor); the continuations ride along in each editor's step-search check, the rest come from one
    batched generation afterwards."""
    report = progress or (lambda fraction, desc: None)
    # the fractions follow the measured shares of a default-model edit (2 cores, step search on): editing, its
    # step search and the continuations riding along ~75%, the rest of the continuations ~10%, scoring ~15%
    rows = _Rows()
    edits = _edits(model, tokenizer, record, specs, rows, max_new_tokens, report)
    report(0.75, "generating: the continuations the step searches did not settle (one batch)")
    texts = _continuations(model, tokenizer, rows, edits)
    report(0.9, "scoring: every probe before and after each edit, the verdicts")
    columns = [_column(model, tokenizer, spec, record, edits[c], texts, c, max_new_tokens)
               for c, spec in enumerate(specs)]
    first = columns[0]
    wrapped_before = texts.base[first.prompt_text]
    plain_before = texts.base[record.prompt] if first.wrapped else wrapped_before
    for i, column in enumerate(columns):
        _judge(column, record, plain_before, wrapped_before if i == 0 else None)
    return Comparison(record, probe_rows(first.report), first.prompt_text, wrapped_before, columns, plain_before,
                      suggestion)
