"""`ask`: apply the edits of a file, then answer prompts with the base and the edited model side by side.

Prompts come from `--prompt` (repeatable) or from stdin, one per line until EOF; on a terminal a `> ` prompt
is shown. The edits become one edit: `sequential` (the default: edit after edit, each on the model as edited
so far), `batch` (one merged edit) or `independent` (a file of one edit).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import TextIO

from instructedit.data.records import TASKS

from . import checks
from .common import add_edit_settings, load_model_and_editor, log
from .edit_command import COMBINED, Session
from .edit_files import FILE_FORMATS
from .edit_view import side_by_side


def typed_prompts(stream: TextIO, out: TextIO) -> Iterator[str]:
    """Non-blank lines of `stream` until EOF, with a `> ` prompt on `out` when `stream` is a terminal."""
    interactive = stream.isatty()
    if interactive:
        out.write("type a prompt and press Enter (Ctrl-D to quit)\n")
    while True:
        if interactive:
            out.write("> ")
            out.flush()
        line = stream.readline()
        if not line:
            if interactive:
                out.write("\n")
            return
        if line.strip():
            yield line.rstrip("\r\n")


def answer(session: Session, edit, prompt: str, as_json: bool) -> str:
    base, edited = session.continuation(prompt), session.continuation(prompt, edit)
    if as_json:
        return json.dumps({"prompt": prompt, "base": base, "edited": edited}, ensure_ascii=False) + "\n"
    return f"{prompt}\n" + side_by_side(base, edited)


def ask(args) -> int:
    checked = checks.ask_inputs(args)
    model, tokenizer, editor = load_model_and_editor(args.editor, checked.model, args.verbose)
    session = Session(model, tokenizer, editor, checked.instruction, checked.catalog, args.max_new_tokens)
    examples = [session.example(record) for record in checked.records]
    edit = COMBINED[args.mode](session, examples)
    log.info("applied %d edit(s) (%s); answering prompts", len(examples), args.mode)
    for prompt in args.prompt or typed_prompts(sys.stdin, sys.stdout):
        sys.stdout.write(answer(session, edit, prompt, args.json))
        sys.stdout.flush()
    return 0


def ask_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--editor", required=True, help="editor directory, e.g. assets/editors/instructedit")
    p.add_argument("--edits", required=True, metavar="FILE",
                   help="the edits to apply: a .csv / .json / .jsonl of edit rows (see `edit --file`) or a data "
                        "file of any known format")
    p.add_argument("--format", choices=FILE_FORMATS, help="the --edits file's format (default: detected)")
    p.add_argument("--limit", type=int, help="the first N edits of the file only")
    p.add_argument("--mode", choices=list(COMBINED), default="sequential",
                   help="sequential: edit after edit on the model as edited so far (default); batch: one merged "
                        "edit of all; independent: the file's one edit")
    p.add_argument("--prompt", action="append",
                   help="a prompt to answer (repeat for more); without it, prompts are read from stdin, one a line")
    p.add_argument("--json", action="store_true", help="one JSON object {prompt, base, edited} per prompt and line")
    p.add_argument("--task", default="counterfact", choices=list(TASKS),
                   help="the task of edit rows without one, i.e. which task's instructions they get "
                        "(default: counterfact)")
    add_edit_settings(p, 30, checks.MAX_NEW_TOKENS)


COMMANDS = {
    "ask": ("apply edits from a file, then answer typed prompts with the base and the edited model side by side",
            ask_arguments, ask),
}
