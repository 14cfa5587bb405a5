"""Handlers of the Edit tab's session section: Apply and keep, the history with undo and reset, Ask the edited
model, export and import. The logic is `session.py`; this module checks inputs and formats outputs.

Every session handler takes the browser session's `Session` (a gr.State: one per browser tab, never shared)
first and returns it first, with the history table, the undo choices, a note and the export file
(SESSION_OUTPUTS, in that order).
"""
from __future__ import annotations

import dataclasses
import html
import logging
import tempfile
from pathlib import Path

import gradio as gr
import pandas as pd

from instructedit.data.records import TASKS
from instructedit.editor.batched_generation import generate_batch
from instructedit.instructions import N_SEEN
from workbench.ui import validate
from workbench.ui.errors import ErrorNotes, ui_errors
from workbench.ui.form import MAX_NEW_TOKENS, EditRequest
from workbench.ui.handlers import gpu
from workbench.ui.session import FILE_FIELD, MAX_FILE_BYTES, Session, parse_session
from workbench.ui.state import AppState
from workbench.ui.validate import FIELD_LABELS, InputError

log = logging.getLogger(__name__)

SESSION_OUTPUTS = ("session", "history", "undo_choice", "session_notice", "download")
HISTORY_HEADERS = ["#", "Prompt", "Target", "Instruction", "Still says the target?", "Plain prompt now continues",
                   "With its instruction"]
QUESTION_FIELD = "Question"
NOTHING = "(no text: the model ended its answer at once)"
_CELL_CHARS = 80


def _shown(text: str) -> str:
    return text if text.strip() else NOTHING


def _short(text: str | None, limit: int = _CELL_CHARS) -> str:
    if text is None:
        return ""
    text = " ".join(_shown(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mark(holds: bool | None) -> str:
    return "" if holds is None else "yes" if holds else "NO"


def history_table(session: Session | None) -> pd.DataFrame:
    """One row per kept edit, oldest first, with its last re-check."""
    rows = []
    for k in (session.kept if session else []):
        check = session.checks.get(k.index)
        holds = None if check is None else _mark(check.holds) + (
            "" if check.wrapped_holds is None else f" (with instruction: {_mark(check.wrapped_holds)})")
        rows.append([k.number, _short(k.record.prompt), k.record.target,
                     "none" if k.instruction is None else _short(k.instruction, 40), holds or "",
                     _short(check and check.plain), _short(check and check.wrapped)])
    return pd.DataFrame(rows, columns=HISTORY_HEADERS)


def holding_note(session: Session | None) -> str:
    if not session or not session.kept:
        return "No kept edits: the session's model is the base model."
    held = sum(1 for c in session.checks.values() if c.holds)
    return (f"{len(session.kept)} kept edit{'s' if len(session.kept) > 1 else ''} with `{session.editor_name}`; "
            f"{held} of {len(session.kept)} still say their target (plain prompt, greedy).")


class SessionHandlers:
    """Session events bound to one AppState; export files go to `folder` (default: a new temp folder)."""

    def __init__(self, state: AppState, errors: ErrorNotes | None = None, folder: Path | None = None):
        self.state = state
        self.errors = errors or ErrorNotes()
        self.folder = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="instructedit-sessions-"))

    def outputs(self, session: Session | None, note: str = "") -> tuple:
        """SESSION_OUTPUTS for `session` (its history, undo choices, note and export file)."""
        choices = [(f"#{k.number}: {_short(k.record.prompt, 50)} → {_short(k.record.target, 20)}", k.number)
                   for k in (session.kept if session else [])]
        path = session.export(self.folder) if session else None
        text = " ".join(part for part in (note, holding_note(session)) if part)
        return (session, history_table(session), gr.Dropdown(choices=choices, value=None), text,
                str(path) if path else None)

    def _new_session(self, editor_name: str) -> Session:
        model, tokenizer = self.state.model()
        editor, guard = self.state.session_editor(editor_name)
        return Session(model, tokenizer, editor, editor_name, self.state.settings.model, self.state.catalog, guard)

    def _session_for(self, session: Session | None, editor_name: str) -> Session:
        if session is not None and session.kept and session.editor_name != editor_name:
            raise InputError(FIELD_LABELS["editor"], f"this session's edits are made with {session.editor_name!r}; "
                                                     "choose it again, or Reset the session to use another editor")
        if session is None or (not session.kept and session.editor_name != editor_name):
            return self._new_session(editor_name)
        return session

    def keep(self, session: Session | None, form: EditRequest, progress=None) -> tuple:
        """Apply and keep: the form's edit (seen instruction) on top of the kept edits; every one re-checked."""
        report = progress or (lambda fraction, desc: None)
        task = validate.check_choice(form.task, TASKS, FIELD_LABELS["task"])
        record = validate.build_record(task, form.prompt, form.target, form.subject, form.paraphrases,
                                       form.locality, form.topic, form.label)
        seen = validate.check_int(form.seen_index, 0, N_SEEN - 1, FIELD_LABELS["seen"])
        report(0.05, "loading the model and editor (first request only)")
        session = self._session_for(session, form.editor)
        report(0.2, f"editing on top of the {len(session)} kept edit(s)")
        kept = session.apply(dataclasses.replace(form, seen_index=seen), record, recheck=False)
        report(0.6, f"generating: re-checking all {len(session)} kept edit(s)")
        session.recheck()
        report(0.95, "scoring: which edits still hold")
        return self.outputs(session, f"Kept edit #{kept.number}.")

    def undo(self, session: Session | None, number) -> tuple:
        if not session or not session.kept:
            raise InputError("Undo", "there are no kept edits to undo")
        if number in (None, ""):
            raise InputError("Undo", "choose the kept edit to undo in the list first")
        kept = session.undo(validate.check_int(number, 1, 10 ** 6, "Undo"))
        return self.outputs(session, f"Undid edit #{kept.number}; the others were re-checked.")

    def reset(self, session: Session | None) -> tuple:
        if session is not None:
            session.reset()
        return self.outputs(session, "Reset: every kept edit removed.")

    def ask(self, session: Session | None, prompt, max_new_tokens) -> tuple[str, str]:
        """(before, after the session's edits): greedy continuations of any prompt."""
        text = validate.check_text(prompt, QUESTION_FIELD)
        tokens = validate.check_int(max_new_tokens, 1, MAX_NEW_TOKENS, FIELD_LABELS["max_new_tokens"])
        if session is None:
            model, tokenizer = self.state.model()
            before = generate_batch(model, tokenizer, [text], None, max_new_tokens=tokens)[0]
            return _shown(before), _shown(before)
        before, after = session.ask(text, tokens)
        return _shown(before), _shown(after)

    def load(self, session: Session | None, path, progress=None) -> tuple:
        """A session file (the Export button's JSON): checked, then its edits made again in order."""
        report = progress or (lambda fraction, desc: None)
        if not path:
            raise InputError(FILE_FIELD, "no file was uploaded")
        file = Path(str(path))
        if file.stat().st_size > MAX_FILE_BYTES:
            raise InputError(FILE_FIELD, f"is larger than {MAX_FILE_BYTES // 1000} kB")
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise InputError(FILE_FIELD, "is not UTF-8 text; choose a file the Export button wrote") from None
        parsed = parse_session(text, self.state.settings.model, self.state.editor_names())
        fresh = self._new_session(parsed.editor)
        for i, (form, record) in enumerate(zip(parsed.requests, parsed.records)):
            report(0.1 + 0.7 * i / len(parsed.requests), f"editing: edit {i + 1} of {len(parsed.requests)} from the file")
            fresh.apply(form, record, recheck=False)
        report(0.85, "generating: re-checking every edit")
        fresh.recheck()
        if session is not None:
            session.reset()
        return self.outputs(fresh, f"Loaded {len(fresh)} edit(s) from {html.escape(file.name)}.")

    def failed(self, session: Session | None, request: gr.Request = None) -> tuple:
        """After a failed session event: its message in the note, the session as it is."""
        message = self.errors.take(request, "The request did not finish.")
        return self.outputs(session, f"**Could not do that.** {message}")

    # ---- Gradio-facing entry points (positional inputs, the error boundary) ----------------------
    @gpu
    @ui_errors
    def keep_event(self, session, prompt, target, subject, paraphrases, locality, task, topic, label, seen_index,
                   third, custom_instruction, editor, second_editor, max_new_tokens, progress=gr.Progress(),
                   request: gr.Request = None):
        form = EditRequest(prompt, target, subject, paraphrases, locality, task, topic, label, seen_index, third,
                           custom_instruction, editor, second_editor, max_new_tokens)
        with self.errors.noted(request):
            return self.keep(session, form, progress)

    @gpu
    @ui_errors
    def undo_event(self, session, number, request: gr.Request = None):
        with self.errors.noted(request):
            return self.undo(session, number)

    @ui_errors
    def reset_event(self, session, request: gr.Request = None):
        with self.errors.noted(request):
            return self.reset(session)

    @gpu
    @ui_errors
    def ask_event(self, session, prompt, max_new_tokens, request: gr.Request = None):
        with self.errors.noted(request):
            return self.ask(session, prompt, max_new_tokens)

    @gpu
    @ui_errors
    def load_event(self, session, path, progress=gr.Progress(), request: gr.Request = None):
        with self.errors.noted(request):
            return self.load(session, path, progress)
