"""A session of many edits, free of Gradio: edits kept one on top of the other (`EditSequence`), undo,
re-checks of every kept edit, questions to the edited model, and the session as a JSON file.

One `Session` per browser session (the app keeps it in a gr.State): the shared base model is never written,
every forward runs under the session's cumulative edit through the per-thread hooks. Edit k is computed
on the model as edited by the kept edits 1..k-1 (`EditSequence.edit_next`), with the form's seen
instruction (the editor contract decides whether the editor reads it); the app gives it the sequence setting
chosen on validation for sessions (`AppState.session_editor`: each edit re-solved against the earlier ones' keys,
capped).

The session file holds the form fields of every kept edit and the last re-check, never tensors: loading it
makes the edits again, in order, on this app's model and editor (an edit is a deterministic function of
them and of the edits before it), so a file cannot carry code or weights. After an undo, a later edit made again
can differ from the kept one, which was computed with the undone edit present. Loading checks every field and names the one at fault.
"""
from __future__ import annotations

import json
import logging
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from instructedit.api import prompt_text
from instructedit.data.records import TASKS, EditRecord
from instructedit.editor.contract import EditorContract, editor_example
from instructedit.editor.sequence import EditSequence
from instructedit.editor.batched_generation import generate_batch
from instructedit.evaluation.answers import starts_with_answer
from instructedit.evaluation.generation_metrics import DEFAULT_EXTRA_TOKENS, answer_token_count
from instructedit.instructions import N_SEEN, Instruction
from instructedit.io import atomic_write_json
from workbench.ui import validate
from workbench.ui.form import EditRequest
from workbench.ui.validate import InputError

log = logging.getLogger(__name__)

SESSION_FORMAT = "instructedit-session"
SESSION_VERSION = 1
MAX_KEPT = 20
MAX_FILE_BYTES = 1_000_000
CHECK_TOKENS = 8  # at least this many tokens per re-check continuation (more when the target is longer)
FILE_FIELD = "Session file"
KEPT_FIELDS = ("prompt", "target", "subject", "task", "topic", "label", "seen_index")


@dataclass(frozen=True)
class KeptEdit:
    """One kept edit: its sequence index, its number in the history (1-based, never reused), the form
    fields that made it, its record, the prompt as the editor read it and the instruction it was given."""

    index: int
    number: int
    request: EditRequest
    record: EditRecord
    prompt_text: str
    instruction: str | None


@dataclass(frozen=True)
class Check:
    """A kept edit re-checked under the session's cumulative edit: does the plain prompt (and the wrapped
    one, where the editor read one) still continue with the target?"""

    plain: str
    holds: bool
    wrapped: str | None = None
    wrapped_holds: bool | None = None


class Session:
    """The kept edits of one browser session on the shared model (see the module docstring)."""

    def __init__(self, model, tokenizer, editor: EditorContract, editor_name: str, model_spec: str,
                 catalog: dict | None = None, guard=None):
        self.model, self.tokenizer, self.editor = model, tokenizer, editor
        self.editor_name, self.model_spec, self.catalog = editor_name, model_spec, catalog
        self.sequence = EditSequence(model, editor, tokenizer.pad_token_id, guard=guard)
        self.kept: list[KeptEdit] = []
        self.checks: dict[int, Check] = {}
        self.id = uuid.uuid4().hex[:12]
        self._numbers = 0
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self.kept)

    # ---- edits ---------------------------------------------------------------------------------
    def apply(self, request: EditRequest, record: EditRecord, recheck: bool = True) -> KeptEdit:
        """Edit `record` on top of the kept edits, keep it, and (by default) re-check every kept edit."""
        with self._lock:
            if len(self.kept) >= MAX_KEPT:
                raise InputError("Session", f"holds {MAX_KEPT} edits, the most one session keeps; undo one or reset")
            example = editor_example(self.editor, record, self.tokenizer, Instruction(index=request.seen_index),
                                     self.catalog)
            index = self.sequence.edit_next([example], label=record.prompt)
            self._numbers += 1
            kept = KeptEdit(index, self._numbers, request, record, prompt_text(self.tokenizer, example.edit),
                            example.description)
            self.kept.append(kept)
            if recheck:
                self.recheck()
            return kept

    def undo(self, number: int) -> KeptEdit:
        """Remove the kept edit numbered `number` exactly (the later ones stay as they were computed)."""
        with self._lock:
            kept = next((k for k in self.kept if k.number == number), None)
            if kept is None:
                live = ", ".join(str(k.number) for k in self.kept) or "none"
                raise InputError("Undo", f"there is no kept edit #{number} (kept: {live})")
            self.sequence.undo(kept.index)
            self.kept.remove(kept)
            self.checks.pop(kept.index, None)
            self.recheck()
            return kept

    def reset(self) -> None:
        with self._lock:
            self.sequence.reset()
            self.kept.clear()
            self.checks.clear()

    # ---- the edited model ----------------------------------------------------------------------
    def recheck(self) -> dict[int, Check]:
        """Every kept edit's prompt continued greedily under the cumulative edit, in one batched call."""
        with self._lock:
            self.checks = {}
            if not self.kept:
                return self.checks
            prompts, budgets = [], []
            for k in self.kept:
                for prompt in [k.record.prompt] + ([k.prompt_text] if k.instruction is not None else []):
                    prompts.append(prompt)
                    budgets.append(max(CHECK_TOKENS, answer_token_count(self.tokenizer, prompt, k.record.target)
                                       + DEFAULT_EXTRA_TOKENS))
            # an edit of batch 1 edits every row
            texts = iter(generate_batch(self.model, self.tokenizer, prompts, self.sequence.cumulative(), None, budgets))
            for k in self.kept:
                plain = next(texts)
                wrapped = next(texts) if k.instruction is not None else None
                target = (k.record.target,)
                self.checks[k.index] = Check(plain, starts_with_answer(plain, target), wrapped,
                                             None if wrapped is None else starts_with_answer(wrapped, target))
            return self.checks

    def ask(self, prompt: str, max_new_tokens: int) -> tuple[str, str]:
        """(the base model's, the session's edited model's) greedy continuation of `prompt`."""
        with self._lock:
            edit = self.sequence.cumulative()
        before = generate_batch(self.model, self.tokenizer, [prompt], None, max_new_tokens=max_new_tokens)[0]
        if edit is None:
            return before, before
        return before, generate_batch(self.model, self.tokenizer, [prompt], edit, max_new_tokens=max_new_tokens)[0]

    # ---- the file ------------------------------------------------------------------------------
    def as_dict(self) -> dict:
        with self._lock:
            edits, results = [], []
            for k in self.kept:
                edit = {name: getattr(k.request, name) for name in KEPT_FIELDS}
                edit.update(prompt=k.record.prompt, target=k.record.target, subject=k.record.subject or "",
                            topic=k.record.topic or "", label=k.record.label or "")
                edit["paraphrases"] = list(k.record.rephrases)
                edit["locality"] = [{"prompt": p.prompt, "answer": p.answer} for p in k.record.locality]
                edits.append(edit)
                check = self.checks.get(k.index)
                results.append({"number": k.number, "instruction": k.instruction, "plain_continuation":
                                check and check.plain, "holds": check and check.holds,
                                "wrapped_continuation": check and check.wrapped,
                                "wrapped_holds": check and check.wrapped_holds})
            return {"format": SESSION_FORMAT, "version": SESSION_VERSION, "model": self.model_spec,
                    "editor": self.editor_name, "edits": edits, "results": results}

    def export(self, folder: Path) -> Path | None:
        """The session as JSON in `folder` (written atomically), None when no edit is kept."""
        if not self.kept:
            return None
        return atomic_write_json(Path(folder) / f"instructedit-session-{self.id}.json", self.as_dict())


@dataclass(frozen=True)
class SessionFile:
    """A checked session file: the model and editor it was made with and each kept edit's form fields."""

    model: str
    editor: str
    requests: tuple[EditRequest, ...]
    records: tuple[EditRecord, ...]


def _field(raw: dict, name: str, kinds, where: str, default=None):
    value = raw.get(name, default)
    if not isinstance(value, kinds):
        expected = kinds.__name__ if isinstance(kinds, type) else " or ".join(k.__name__ for k in kinds)
        raise InputError(FILE_FIELD, f"{where}{name} must be {expected}, got {type(value).__name__}")
    return value


def _request(raw, i: int, editor: str) -> tuple[EditRequest, EditRecord]:
    where = f"edits[{i}]."
    if not isinstance(raw, dict):
        raise InputError(FILE_FIELD, f"edits[{i}] must be an object, got {type(raw).__name__}")
    texts = {name: _field(raw, name, str, where, "") for name in ("prompt", "target")}
    texts.update({name: _field(raw, name, (str, type(None)), where, "") or "" for name in ("subject", "topic")})
    task = _field(raw, "task", str, where, "counterfact")
    label = _field(raw, "label", (str, type(None)), where, "") or "positive"
    seen = _field(raw, "seen_index", int, where, 0)
    paraphrases = _field(raw, "paraphrases", list, where, [])
    locality = _field(raw, "locality", list, where, [])
    try:
        if not all(isinstance(p, str) for p in paraphrases):
            raise InputError("paraphrases", "every paraphrase must be text")
        if not all(isinstance(p, dict) and isinstance(p.get("prompt"), str) and isinstance(p.get("answer"), str)
                   for p in locality):
            raise InputError("locality", "every probe must be an object with text 'prompt' and 'answer'")
        lines = "\n".join(f"{p['prompt']} {validate.LOCALITY_SEPARATOR} {p['answer']}" for p in locality)
        request = EditRequest(texts["prompt"], texts["target"], texts["subject"], "\n".join(paraphrases), lines,
                              task, texts["topic"], label, seen, editor=editor)
        validate.check_choice(task, TASKS, "task")
        validate.check_int(seen, 0, N_SEEN - 1, "seen_index")
        record = validate.build_record(task, request.prompt, request.target, request.subject, request.paraphrases,
                                       request.locality, request.topic, request.label)
    except InputError as err:
        raise InputError(FILE_FIELD, f"edits[{i}]: {err}") from err
    return request, record


def parse_session(text: str, model_spec: str, editors: list[str]) -> SessionFile:
    """A session file's text, checked (see the module docstring); InputError names the field at fault."""
    if len(text.encode("utf-8")) > MAX_FILE_BYTES:
        raise InputError(FILE_FIELD, f"is larger than {MAX_FILE_BYTES // 1000} kB; a session of {MAX_KEPT} edits "
                                     "is far smaller")
    try:
        data = json.loads(text)
    except ValueError as err:
        raise InputError(FILE_FIELD, f"is not JSON ({err}); choose a file the Export button wrote") from None
    if not isinstance(data, dict) or data.get("format") != SESSION_FORMAT:
        raise InputError(FILE_FIELD, f"format must be {SESSION_FORMAT!r}; choose a file the Export button wrote")
    if data.get("version") != SESSION_VERSION:
        raise InputError(FILE_FIELD, f"version must be {SESSION_VERSION}, got {data.get('version')!r}")
    model = _field(data, "model", str, "")
    if model != model_spec:
        raise InputError(FILE_FIELD, f"model is {model[:80]!r}, but this app runs {model_spec!r}; its edits were "
                                     "made for that model")
    editor = _field(data, "editor", str, "")
    if editor not in editors:
        raise InputError(FILE_FIELD, f"editor {editor[:80]!r} is not one of: {', '.join(editors) or 'none here'}")
    edits = _field(data, "edits", list, "")
    if not edits or len(edits) > MAX_KEPT:
        raise InputError(FILE_FIELD, f"edits must hold 1 to {MAX_KEPT} edits, got {len(edits)}")
    pairs = [_request(raw, i, editor) for i, raw in enumerate(edits)]
    return SessionFile(model, editor, tuple(p[0] for p in pairs), tuple(p[1] for p in pairs))
