"""Edit-tab event handlers: check the inputs, run the comparison, format the three columns, the probe table
and the plots; examples, Clear, the error in place of stale outputs, the share link and the prefill from one."""
from __future__ import annotations

import dataclasses
import html
import json
import logging
import threading
from collections import OrderedDict

import gradio as gr

from instructedit.data.records import TASKS
from instructedit.instructions import CATALOG, N_SEEN, UNSEEN_INDEX, Instruction
from . import cards, plots, validate
from workbench.ui.compare import ColumnSpec, compare
from workbench.ui.errors import ErrorNotes, ui_errors
from workbench.ui.form import (DEFAULT_NEW_TOKENS, FIELDS, MAX_NEW_TOKENS, TEXT_FIELDS, THIRD_MODES, EditRequest,
                               parse_query, share_url)
from workbench.ui.neighbours import fact_pool, suggest
from workbench.ui.state import AppState, Unavailable
from workbench.ui.validate import FIELD_LABELS, InputError

log = logging.getLogger(__name__)

try:  # Hugging Face Spaces (ZeroGPU) wraps GPU work; elsewhere the package is absent and this is a no-op
    import spaces

    gpu = spaces.GPU(duration=120)
except ImportError:
    def gpu(fn):
        return fn

__all__ = ["DEFAULT_NEW_TOKENS", "EDIT_OUTPUTS", "MAX_NEW_TOKENS", "THIRD_MODES", "EditRequest", "Handlers"]

EXAMPLE_CACHE_SIZE = 64
# the Edit tab's outputs, in the order every edit handler returns them (app.py maps them to components)
EDIT_OUTPUTS = ("notice", "before", "before_wrapped", "before_card", "seen", "seen_wrapped", "seen_card", "seen_diff",
                "third_title", "third_out", "third_wrapped", "third_card", "third_diff", "probes", "chart", "summary")
NOT_FINISHED = "The edit did not finish (it was cancelled or the connection dropped); press Edit again."


def seen_choices(task: str, catalog: dict | None = None) -> list[tuple[str, int]]:
    return [(f"{i + 1}. {text}", i) for i, text in enumerate((catalog or CATALOG)[task][:N_SEEN])]


def unseen_text(task: str, catalog: dict | None = None) -> str:
    return f"**Unseen (held-out) instruction:** {html.escape((catalog or CATALOG)[task][UNSEEN_INDEX])}"


def example_rows(path) -> tuple[list[list], list[str], str]:
    """Rows for gr.Examples from assets/examples.json (prompt, target, subject, paraphrases, locality, task,
    topic, label), their names, and a note when the file is missing or malformed."""
    if not path.is_file():
        return [], [], f"No examples yet: {path} does not exist."
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
        rows = [[it["prompt"], it["target"], it.get("subject", ""), "\n".join(it.get("rephrases", [])),
                 "\n".join(f"{p['prompt']} {validate.LOCALITY_SEPARATOR} {p['answer']}" for p in it.get("locality", [])),
                 it["task"], it.get("topic", ""), it.get("label") or "positive"] for it in items]
        names = [str(it.get("name") or it["prompt"][:40]) for it in items]
    except (OSError, ValueError, KeyError, TypeError) as err:
        return [], [], f"Examples unavailable: {path} is malformed ({err})."
    return rows, names, ""


class Handlers:
    """Event handlers bound to one AppState (the model and editors are shared read-only)."""

    def __init__(self, state: AppState, errors: ErrorNotes | None = None):
        self.state = state
        self.errors = errors or ErrorNotes()
        self._examples: OrderedDict = OrderedDict()
        self._examples_lock = threading.Lock()

    # ---- small handlers ----------------------------------------------------------------------
    @ui_errors
    def instructions(self, task: str, seen_index=0):
        """Task changed: the 9 seen instructions (the chosen one kept), the unseen one, and the ConvSent fields'
        visibility."""
        validate.check_choice(task, TASKS, FIELD_LABELS["task"])
        convsent = task == "convsent"
        catalog = self.state.catalog
        keep = seen_index if isinstance(seen_index, int) and 0 <= seen_index < N_SEEN else 0
        return (gr.Dropdown(choices=seen_choices(task, catalog), value=keep), unseen_text(task, catalog),
                gr.Textbox(visible=convsent), gr.Radio(visible=convsent))

    @ui_errors
    def editor_info(self, name: str) -> str:
        """A line about the chosen editor (its editor.json; no weights are loaded)."""
        if not name or not self.state.editor_names():
            return "No editor selected." if self.state.editor_names() else self.status()
        info = self.state.editor_info(name)
        config = info.get("editor", {})
        metrics = info.get("metrics") or {}
        shown = ", ".join(f"{k} {v:.3g}" if isinstance(v, (int, float)) else f"{k} {v}" for k, v in list(metrics.items())[:8])
        return (f"**{html.escape(name)}**: mode `{config.get('mode', '?')}`, trained on "
                f"{', '.join(config.get('tasks', [])) or '?'}; base model `{info.get('model', '?')}`"
                + (f"; validation: {html.escape(shown)}" if shown else ""))

    def status(self) -> str:
        """What exists and what is missing (shown on page load)."""
        s = self.state.settings
        names = self.state.editor_names()
        lines = [f"Model: `{s.model}` ({'loaded' if self.state.model_loaded else 'loads on the first edit'})."]
        if s.instructions_file:
            lines.append(f"Instructions: `{s.instructions_file}`.")
        lines.append(f"Editors: {', '.join(f'`{n}`' for n in names)}." if names else
                     f"**No editor checkpoints in `{s.editors_dir}` yet**: editing needs at least one "
                     "(a folder with editor.json + editor.safetensors).")
        return "  \n".join(lines)

    def default_editors(self) -> tuple[str | None, str | None]:
        """(first, second) editor to preselect: an instruction editor first, then another one (e.g. MEND)."""
        names = self.state.editor_names()
        if not names:
            return None, None
        modes = {}
        for name in names:
            try:
                modes[name] = self.state.editor_info(name).get("editor", {}).get("mode")
            except Unavailable:  # unreadable editor.json: still listed, chosen last
                modes[name] = None
        first = next((n for n in names if modes[n] == "instruct"), names[0])
        second = next((n for n in names if n != first and modes[n] != "instruct"), None)
        return first, second or next((n for n in names if n != first), first)

    def refresh(self):
        """Page load: the status line and the editor dropdowns (checkpoints may appear while running)."""
        names = self.state.editor_names()
        first, second = self.default_editors()
        return self.status(), gr.Dropdown(choices=names, value=first), gr.Dropdown(choices=names, value=second)

    # ---- the edit ----------------------------------------------------------------------------
    def _instruction_specs(self, request: EditRequest) -> tuple[ColumnSpec, ColumnSpec]:
        validate.check_choice(request.third, THIRD_MODES, FIELD_LABELS["third"])
        seen = Instruction(index=validate.check_int(request.seen_index, 0, N_SEEN - 1, FIELD_LABELS["seen"]))
        editor = self.state.editor(request.editor)
        first = ColumnSpec(f"seen instruction {seen.index + 1}", request.editor, editor,
                           seen, self.state.catalog)
        return first, self._third_specs[request.third](self, request, seen, editor)

    def _unseen(self, request, seen, editor) -> ColumnSpec:
        return ColumnSpec("unseen instruction", request.editor, editor,
                          Instruction(index=UNSEEN_INDEX), self.state.catalog)

    def _custom(self, request, seen, editor) -> ColumnSpec:
        text = validate.check_custom_instruction(request.custom_instruction)
        return ColumnSpec("free-text instruction", request.editor, editor, Instruction(text=text))

    def _second_editor(self, request, seen, editor) -> ColumnSpec:
        try:
            other = self.state.editor(request.second_editor)
        except Unavailable as err:  # re-labelled so the message names the right field
            raise InputError(FIELD_LABELS["second_editor"], str(err)) from err
        return ColumnSpec(f"editor {request.second_editor}", request.second_editor, other,
                          seen, self.state.catalog)

    _third_specs = {"unseen": _unseen, "custom": _custom, "editor": _second_editor}

    def _record(self, request: EditRequest):
        """The checked record, with suggested locality probes when the field is empty (else suggestion None)."""
        task = validate.check_choice(request.task, TASKS, FIELD_LABELS["task"])
        record = validate.build_record(task, request.prompt, request.target, request.subject, request.paraphrases,
                                       request.locality, request.topic, request.label)
        if record.locality:
            return record, None
        suggestion = suggest(record, fact_pool(self.state.settings.examples_file))
        return dataclasses.replace(record, locality=suggestion.probes), suggestion

    def run(self, request: EditRequest, progress=None) -> tuple:
        """Check, edit, format: the tuple of the Edit tab's outputs (EDIT_OUTPUTS)."""
        report = progress or (lambda fraction, desc: None)
        report(0.01, "checking the inputs")
        record, suggestion = self._record(request)
        tokens = validate.check_int(request.max_new_tokens, 1, MAX_NEW_TOKENS, FIELD_LABELS["max_new_tokens"])
        report(0.02, "loading the model and editors (first request only)")
        specs = self._instruction_specs(request)
        model, tokenizer = self.state.model()
        comparison = compare(model, tokenizer, record, list(specs), tokens, report, suggestion)
        return self._outputs(tokenizer, comparison)

    @staticmethod
    def _outputs(tokenizer, comparison) -> tuple:
        seen, third = comparison.columns
        before = comparison.plain_before
        wrapped_before = comparison.before if seen.wrapped else ""
        values = {
            "notice": cards.notice(comparison), "before": before, "before_wrapped": wrapped_before,
            "before_card": cards.before_card(comparison),
            "seen": seen.plain_after, "seen_wrapped": seen.continuation if seen.wrapped else "",
            "seen_card": cards.after_card(seen), "seen_diff": plots.token_diff(tokenizer, before, seen.plain_after),
            "third_title": f"### After the edit: {html.escape(third.spec.title)}", "third_out": third.plain_after,
            "third_wrapped": third.continuation if third.wrapped else "", "third_card": cards.after_card(third),
            "third_diff": plots.token_diff(tokenizer, before, third.plain_after),
            "probes": cards.probe_table(comparison), "chart": plots.probe_chart(comparison),
            "summary": cards.summary(comparison),
        }
        return tuple(values[name] for name in EDIT_OUTPUTS)

    @staticmethod
    def empty_outputs(message: str = "") -> tuple:
        """Every output cleared; `message` (a UI error, already HTML-escaped) in the notice and the cards."""
        shown = f"**Could not edit.** {message}" if message else ""
        values = {name: "" for name in EDIT_OUTPUTS}
        values.update(notice=shown, before_card=shown, seen_card=shown, third_card=shown,
                      third_title="### After the edit", seen_diff=None, third_diff=None, probes=None, chart=None,
                      summary=None)
        return tuple(values[name] for name in EDIT_OUTPUTS)

    @gpu
    @ui_errors
    def edit(self, prompt, target, subject, paraphrases, locality, task, topic, label, seen_index, third,
             custom_instruction, editor, second_editor, max_new_tokens, progress=gr.Progress(),
             request: gr.Request = None):
        """The Edit button: before | after (seen instruction) | after (unseen, free text or second editor)."""
        form = EditRequest(prompt, target, subject, paraphrases, locality, task, topic, label, seen_index, third,
                           custom_instruction, editor, second_editor, max_new_tokens)
        with self.errors.noted(request):
            return self.run(form, progress)

    @gpu
    @ui_errors
    def example(self, prompt, target, subject, paraphrases, locality, task, topic, label, seen_index=0,
                third="unseen", custom_instruction="", editor=None, second_editor="",
                max_new_tokens=DEFAULT_NEW_TOKENS, progress=gr.Progress(), request: gr.Request = None):
        """An example row clicked (after it filled the form): the form's settings, results cached in memory."""
        form = EditRequest(prompt, target, subject, paraphrases, locality, task, topic, label, seen_index, third,
                           custom_instruction, editor or self.default_editors()[0] or "", second_editor,
                           max_new_tokens)
        with self.errors.noted(request):
            with self._examples_lock:
                cached = self._examples.get(form)
            if cached is None:
                cached = self.run(form, progress)
                with self._examples_lock:
                    self._examples[form] = cached
                    while len(self._examples) > EXAMPLE_CACHE_SIZE:
                        self._examples.popitem(last=False)
            return cached

    def failed(self, request: gr.Request = None) -> tuple:
        """After a failed edit (`.failure`): its message in place of every output."""
        return self.empty_outputs(self.errors.take(request, NOT_FINISHED))

    def clear(self) -> tuple:
        """The Clear button: the form's text fields empty, then every output."""
        return ("",) * len(TEXT_FIELDS) + self.empty_outputs()

    # ---- links ---------------------------------------------------------------------------------
    def share(self, *values):
        """The share link of the form (its fields, then the page's address, which the browser supplies)."""
        *fields, page_url = values
        return share_url(str(page_url or ""), EditRequest(*fields))

    def prefill(self, request: gr.Request = None) -> tuple:
        """Page load: the form's fields from the link's query parameters (unchanged where absent), and a note."""
        params = dict(getattr(request, "query_params", None) or {})
        values, problems = parse_query(params, self.state.editor_names())
        updates = tuple(gr.update(value=values[name]) if name in values else gr.update() for name in FIELDS)
        note = ""
        if values:
            note = "Filled from the link: " + ", ".join(values) + "."
        if problems:
            note += " Ignored from the link: " + "; ".join(html.escape(p, quote=False) for p in problems) + "."
        return (*updates, note.strip())
