"""`edit`: one edit from flags, or many from a file (`--file`) in one model load.

Modes (a registry): `independent` (each record edited from the base model, as `eval` does), `batch` (one
merged edit of every record: `make_edits(...).merged()`), `sequential` (each edit computed on the model as
edited so far: `EditSequence`). In the batch and sequential modes every record is reported under the one
final edit. Each report holds the library's `EditReport` (the probes before/after, the instruction-wrapped
prompt's continuations) and the greedy continuations of the plain prompt (no instruction) before and after.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass

from instructedit.data.records import SENTIMENTS, TASKS

from . import checks
from .common import add_edit_settings, load_model_and_editor, log
from .edit_files import FILE_FORMATS
from .edit_view import record_table

MODE_NAMES = ("independent", "batch", "sequential")


@dataclass
class Session:
    """The loaded model and editor with the instruction settings every edit of one command uses."""

    model: object
    tokenizer: object
    editor: object
    instruction: object
    catalog: dict | None = None
    max_new_tokens: int = 20
    wrapped_before: bool = True  # continue the instruction-wrapped prompt before the edit too (JSON shows it)

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id

    def example(self, record):
        from instructedit.editor.contract import editor_example

        return editor_example(self.editor, record, self.tokenizer, self.instruction, self.catalog)

    def continuation(self, prompt: str, edit=None) -> str:
        from instructedit.evaluation.generation import greedy_continuation

        return greedy_continuation(self.model, self.tokenizer, prompt, edit, self.max_new_tokens)


@dataclass
class Outcome:
    """One record's report (with the plain prompt's continuations before and after the edit) and its mode."""

    report: object
    mode: str

    @property
    def record(self):
        return self.report.example.record

    @property
    def plain_before(self) -> str | None:
        return self.report.plain_before

    @property
    def plain_after(self) -> str | None:
        return self.report.plain_after

    def as_dict(self) -> dict:
        record = self.record
        return self.report.as_dict() | {"task": record.task, "subject": record.subject, "target": record.target,
                                        "mode": self.mode}


def _batch_edit(session: Session, examples: list):
    from instructedit.editor.contract import make_edits

    return make_edits(session.model, session.editor, examples, session.pad_id).merged()


def _sequential_edit(session: Session, examples: list):
    from instructedit.editor.sequence import EditSequence

    sequence = EditSequence(session.model, session.editor, session.pad_id)
    for example in examples:
        sequence.edit_next([example])
    return sequence.cumulative()


def _single_edit(session: Session, examples: list):
    if len(examples) != 1:
        raise ValueError(f"an independent edit edits one record, got {len(examples)}")
    return _batch_edit(session, examples)


# mode -> (session, examples) -> the one Edit of every example (`ask` applies it)
COMBINED = {"independent": _single_edit, "batch": _batch_edit, "sequential": _sequential_edit}


# records edited and reported together in independent mode (as `eval` batches them)
INDEPENDENT_CHUNK = 32


def _reports(session: Session, examples: list, edit) -> list:
    from instructedit.api import report_edits

    return report_edits(session.model, session.tokenizer, session.editor, examples, edit,
                        session.editor.instruction_for(session.instruction), session.max_new_tokens,
                        continue_before=session.wrapped_before)


def edit_records(session: Session, records: list, mode: str) -> list[Outcome]:
    """Every record's outcome in one mode (independent: each edit from the base model, made and reported
    in batches; batch / sequential: every record under the one combined edit)."""
    from instructedit.editor.contract import make_edits

    log.info("%d edit(s), %s", len(records), mode)
    examples = [session.example(record) for record in records]
    if mode != "independent":
        return [Outcome(r, mode) for r in _reports(session, examples, COMBINED[mode](session, examples))]
    outcomes = []
    for i in range(0, len(examples), INDEPENDENT_CHUNK):
        chunk = examples[i:i + INDEPENDENT_CHUNK]
        edit = make_edits(session.model, session.editor, chunk, session.pad_id)
        outcomes += [Outcome(r, mode) for r in _reports(session, chunk, edit)]
    return outcomes


def edit(args) -> int:
    checked = checks.edit_inputs(args)
    model, tokenizer, editor = load_model_and_editor(args.editor, checked.model, args.verbose)
    session = Session(model, tokenizer, editor, checked.instruction, checked.catalog, args.max_new_tokens,
                      wrapped_before=args.json or not args.file)  # the tables show the plain prompt's only
    outcomes = edit_records(session, checked.records, args.mode)
    if not args.file:  # one edit: the JSON object it always printed, with the plain-prompt keys added
        sys.stdout.write(json.dumps(outcomes[0].as_dict(), indent=2, ensure_ascii=False) + "\n")
    elif args.json:
        sys.stdout.writelines(json.dumps(o.as_dict(), ensure_ascii=False) + "\n" for o in outcomes)
    else:
        sys.stdout.write("\n".join(record_table(o, i, len(outcomes)) for i, o in enumerate(outcomes)))
    return 0


def edit_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--editor", required=True, help="editor directory, e.g. assets/editors/instructedit")
    p.add_argument("--file", help="many edits in one model load: a .csv (columns prompt,target[,task,subject,"
                                  "rephrase,locality_prompt,locality_answer,topic,label]), a .json list / .jsonl "
                                  "of such objects, or a data file of any known format (CounterFact, KnowEdit, ...)")
    p.add_argument("--format", choices=FILE_FORMATS, help="the --file's format (default: detected)")
    p.add_argument("--limit", type=int, help="the first N records of --file only")
    modes = p.add_mutually_exclusive_group()
    modes.add_argument("--batch", dest="mode", action="store_const", const="batch", default="independent",
                       help="one merged edit of every record (default: each record edited from the base model)")
    modes.add_argument("--sequential", dest="mode", action="store_const", const="sequential",
                       help="edit after edit, each computed on the model as edited so far; records are reported "
                            "under the final edit")
    p.add_argument("--json", action="store_true",
                   help="with --file: one JSON object per record and line instead of the tables")
    p.add_argument("--prompt", help="one edit's prompt, e.g. 'The Eiffel Tower is located in'")
    p.add_argument("--target", help="one edit's new answer, e.g. 'Rome'")
    p.add_argument("--task", default="counterfact", choices=list(TASKS),
                   help="which task's instructions the edit gets; with --file, the task of rows without one "
                        "(default: counterfact)")
    p.add_argument("--subject", help="the edited subject, recorded in the output (e.g. 'Eiffel Tower')")
    p.add_argument("--rephrase", action="append", help="a paraphrase of the prompt, scored as Generalization "
                                                       "(repeat for more)")
    p.add_argument("--locality", nargs=2, action="append", metavar=("PROMPT", "ANSWER"),
                   help="an unrelated fact that must not change, scored as Locality (repeat for more)")
    p.add_argument("--topic", help="ConvSent: the topic of the opinion")
    p.add_argument("--label", choices=list(SENTIMENTS), help="ConvSent: the requested sentiment")
    add_edit_settings(p, 20, checks.MAX_NEW_TOKENS)


COMMANDS = {
    "edit": (("make one edit, or many from --file in one model load (independent, --batch or --sequential), "
              "and print each one's probes and continuations before/after"), edit_arguments, edit),
}
