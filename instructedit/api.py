"""One edit, end to end: a record and an instruction in, the edit and its before/after report out.

`edit_and_report` is the library's one path for a single edit: the CLI `edit` command, the app's columns
and scripts all call it and only format what it returns. The instruction is resolved by the editor
contract (`EditorContract.instruction_for`): editors trained without instructions get none.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from .data.records import EditRecord
from .editor.contract import EditorContract, editor_example, make_edits
from .editor.edit import Edit
from .editor.batched_generation import generate_batch, prompt_token_ids
from .editor.step_search import RideAlong
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
    """One record's edit: its scores, every probe before/after, and greedy continuations of the edit prompt
    as the editor reads it (`before`/`after`) and of the plain prompt without instruction (`plain_*`; the
    same texts when the editor got no instruction; None when not asked for)."""

    edit: Edit
    example: Example
    instruction: Instruction
    scores: dict
    prompt_text: str
    probes: list[ProbeOutcome]
    before: str | None
    after: str
    plain_before: str | None = None
    plain_after: str | None = None

    def as_dict(self) -> dict:
        return {"prompt": self.prompt_text, "instruction": self.example.description, "before": self.before,
                "after": self.after, "plain_prompt": self.example.record.prompt, "plain_before": self.plain_before,
                "plain_after": self.plain_after, **self.scores, "probes": [asdict(p) for p in self.probes]}


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
    return make_record_edits(model, tokenizer, editor, record, [(instruction, catalog)], max_tokens)[0]


def make_record_edits(model, tokenizer, editor: EditorContract, record: EditRecord, settings: list[tuple],
                      max_tokens: int = DEFAULT_MAX_TOKENS,
                      ride_for: Callable[[list[Example]], RideAlong] | None = None) -> list[tuple[Edit, Example]]:
    """(edit, example) of `record` per (instruction, catalog) setting: independent edits of the base model,
    made as rows of one batch (an editor's step search then checks them all in one generation). `ride_for`:
    from the examples, prompts to continue in that generation (`step_search.RideAlong`, filled in place)."""
    examples = [editor_example(editor, record, tokenizer, instruction, catalog, max_tokens)
                for instruction, catalog in settings]
    ride = ride_for(examples) if ride_for is not None else None
    edit = make_edits(model, editor, examples, tokenizer.pad_token_id, ride)
    return [(edit.select(row), example) for row, example in enumerate(examples)]


def _continuations(model, tokenizer, prompts: list[str], plain: list[str], edit: Edit, max_new_tokens: int,
                   before: bool) -> tuple[list, list, list, list]:
    """Greedy continuations of the wrapped prompts (before, when asked, and after edit row i) and of the
    `plain` prompts (before and after), in two batched calls: every unedited row in one, every edited in one."""
    n = len(prompts)
    after = generate_batch(model, tokenizer, prompts + plain, edit, list(range(n)) * (1 + bool(plain)),
                           max_new_tokens=max_new_tokens)
    unedited = (prompts if before else []) + plain
    pre = generate_batch(model, tokenizer, unedited, None, max_new_tokens=max_new_tokens) if unedited else []
    wrapped_before = pre[:n] if before else [None] * n
    plain_before = pre[n:] if before else pre
    return wrapped_before, after[:n], plain_before, after[n:]


def report_edits(model, tokenizer, editor: EditorContract, examples: list[Example], edit: Edit,
                 instruction: Instruction, max_new_tokens: int = 20, continue_before: bool = True,
                 plain: bool = True, continuations: tuple[list, list, list, list] | None = None) -> list[EditReport]:
    """The report of every example under `edit`: row i of a batched edit edits example i, an edit of batch 1
    (a merged or sequential edit) edits them all. Probes scored in one pass, continuations batched.
    `instruction`: what the editor was given (`editor.instruction_for`), recorded in the reports.
    `continuations`: (wrapped before, after, plain before, plain after) per example, when the caller
    generated them (in a larger batch, see `plain_prompts`); else they are generated here."""
    n = len(examples)
    rows = edit.take([0] * n) if edit.batch_size == 1 and n > 1 else edit
    table = probe_table(model, editor, examples, tokenizer.pad_token_id, rows)
    start = [table.probes.owner.index(i) for i in range(n)]
    texts = [prompt_text(tokenizer, ex.edit) for ex in examples]
    wrapped = [ex.description is not None for ex in examples]
    plain_prompts = [ex.record.prompt for ex in examples] if plain and any(wrapped) else []
    before, after, plain_before, plain_after = continuations or _continuations(
        model, tokenizer, texts, plain_prompts, rows, max_new_tokens, continue_before)
    if not plain_prompts:
        plain_before, plain_after = [None] * n, [None] * n
    reports = []
    for i, ex in enumerate(examples):
        probes = [ProbeOutcome(kind, prompt, answer, float(table.pre["sum_logprob"][j].exp()),
                               float(table.post["sum_logprob"][j].exp()), float(table.pre["accuracy"][j]),
                               float(table.post["accuracy"][j]))
                  for j, (kind, prompt, answer) in enumerate(record_probes(ex.record), start=start[i])]
        pb, pa = (plain_before[i], plain_after[i]) if wrapped[i] else (before[i], after[i])
        reports.append(EditReport(rows.select(i) if rows.batch_size > 1 else rows, ex, instruction, table.record(i, ex),
                                  texts[i], probes, before[i], after[i], pb if plain else None,
                                  pa if plain else None))
    return reports


def edit_and_report(model, tokenizer, editor: EditorContract, record: EditRecord, instruction="seen",
                    catalog: dict | None = None, max_new_tokens: int = 20, continue_before: bool = True,
                    plain: bool = True) -> EditReport:
    """Make the edit, score every probe before/after, and continue the edit prompt greedily after the edit
    (and before it, unless `continue_before` is False); with `plain`, the plain prompt's too."""
    rides: list[tuple[dict, RideAlong]] = []

    def ride_for(examples: list[Example]) -> RideAlong:
        rides.append(_one_record_ride(tokenizer, examples[0], max_new_tokens, continue_before, plain))
        return rides[0][1]

    (edit, example), = make_record_edits(model, tokenizer, editor, record, [(instruction, catalog)], ride_for=ride_for)
    given = editor.instruction_for(instruction)
    where, ride = rides[0]
    text = [tokenizer.decode(ids, skip_special_tokens=True) for ids in ride.settle(model, edit)]
    pick = {name: [None if j is None else text[j]] for name, j in where.items()}
    continuations = (pick["before"], pick["after"], pick["plain_before"], pick["plain_after"])
    return report_edits(model, tokenizer, editor, [example], edit, given, max_new_tokens, continue_before, plain,
                        continuations)[0]


def _one_record_ride(tokenizer, example: Example, max_new_tokens: int, before: bool,
                     plain: bool) -> tuple[dict, RideAlong]:
    """The continuations `report_edits` needs for one example, as a ride-along of its edit's step search: the
    prompt as the editor reads it after the edit (and before it, with `before`), and the plain prompt after and
    before it when the editor reads a wrapped one (with `plain`). Returns each one's row (None: not asked)."""
    text = prompt_text(tokenizer, example.edit)
    wrapped = plain and example.description is not None
    wanted = {"after": (text, 0), "before": (text, None) if before else None,
              "plain_after": (example.record.prompt, 0) if wrapped else None,
              "plain_before": (example.record.prompt, None) if wrapped else None}
    rows = [row for row in wanted.values() if row is not None]
    where, j = {}, 0
    for name, row in wanted.items():
        where[name], j = (j, j + 1) if row is not None else (None, j)
    return where, RideAlong(prompt_token_ids(tokenizer, [p for p, _ in rows]), [o for _, o in rows],
                            [max_new_tokens] * len(rows))
