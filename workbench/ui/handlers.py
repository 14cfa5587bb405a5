"""Edit-tab event handlers: check the inputs, run the comparison, format the three columns and the plots."""
from __future__ import annotations

import html
import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass

import gradio as gr

from instructedit.data.records import TASKS
from instructedit.instructions import CATALOG, N_SEEN, UNSEEN_INDEX, Instruction
from . import plots, validate
from workbench.ui.compare import ColumnSpec, compare
from workbench.ui.errors import ui_errors
from workbench.ui.state import AppState, Unavailable
from workbench.ui.validate import FIELD_LABELS, InputError

log = logging.getLogger(__name__)

try:  # Hugging Face Spaces (ZeroGPU) wraps GPU work; elsewhere the package is absent and this is a no-op
    import spaces

    gpu = spaces.GPU(duration=120)
except ImportError:
    def gpu(fn):
        return fn

DEFAULT_NEW_TOKENS = 20
MAX_NEW_TOKENS = 64
EXAMPLE_CACHE_SIZE = 64
THIRD_MODES = {  # value -> radio label; the third column's builders are in Handlers._third_specs
    "unseen": "Unseen (held-out) instruction",
    "custom": "Free-text instruction",
    "editor": "Second editor, same seen instruction",
}


@dataclass(frozen=True)
class EditRequest:
    """The Edit tab's inputs, as the handler receives them."""

    prompt: str
    target: str
    subject: str = ""
    paraphrases: str = ""
    locality: str = ""
    task: str = "counterfact"
    topic: str = ""
    label: str = "positive"
    seen_index: int = 0
    third: str = "unseen"
    custom_instruction: str = ""
    editor: str = ""
    second_editor: str = ""
    max_new_tokens: int = DEFAULT_NEW_TOKENS


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

    def __init__(self, state: AppState):
        self.state = state
        self._examples: OrderedDict = OrderedDict()
        self._examples_lock = threading.Lock()

    # ---- small handlers ----------------------------------------------------------------------
    @ui_errors
    def instructions(self, task: str):
        """Task changed: the 9 seen instructions, the unseen one, and the ConvSent fields' visibility."""
        validate.check_choice(task, TASKS, FIELD_LABELS["task"])
        convsent = task == "convsent"
        catalog = self.state.catalog
        return (gr.Dropdown(choices=seen_choices(task, catalog), value=0), unseen_text(task, catalog),
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

    def run(self, request: EditRequest, progress=None) -> tuple:
        """Check, edit, format: the tuple of the Edit tab's outputs (see `app.py`)."""
        report = progress or (lambda fraction, desc: None)
        task = validate.check_choice(request.task, TASKS, FIELD_LABELS["task"])
        record = validate.build_record(task, request.prompt, request.target, request.subject, request.paraphrases,
                                       request.locality, request.topic, request.label)
        tokens = validate.check_int(request.max_new_tokens, 1, MAX_NEW_TOKENS, FIELD_LABELS["max_new_tokens"])
        report(0.02, "loading the model and editors (first request only)")
        specs = self._instruction_specs(request)
        model, tokenizer = self.state.model()
        comparison = compare(model, tokenizer, record, list(specs), tokens, report)
        return self._outputs(tokenizer, comparison)

    def _outputs(self, tokenizer, comparison) -> tuple:
        seen, third = comparison.columns
        return (
            comparison.before, plots.before_card(comparison),
            seen.continuation, plots.after_card(seen),
            plots.token_diff(tokenizer, comparison.before, seen.continuation),
            f"### After the edit: {html.escape(third.spec.title)}", third.continuation, plots.after_card(third),
            plots.token_diff(tokenizer, comparison.before, third.continuation),
            plots.probe_chart(comparison), plots.summary(comparison),
        )

    @gpu
    @ui_errors
    def edit(self, prompt, target, subject, paraphrases, locality, task, topic, label, seen_index, third,
             custom_instruction, editor, second_editor, max_new_tokens, progress=gr.Progress()):
        """The Edit button: before | after (seen instruction) | after (unseen, free text or second editor)."""
        request = EditRequest(prompt, target, subject, paraphrases, locality, task, topic, label, seen_index, third,
                              custom_instruction, editor, second_editor, max_new_tokens)
        return self.run(request, progress)

    @gpu
    @ui_errors
    def example(self, prompt, target, subject, paraphrases, locality, task, topic, label, progress=gr.Progress()):
        """An example row clicked: the default settings, results cached in memory after the first use."""
        request = EditRequest(prompt, target, subject, paraphrases, locality, task, topic, label,
                              editor=self.default_editors()[0] or "")
        with self._examples_lock:
            cached = self._examples.get(request)
        if cached is None:
            cached = self.run(request, progress)
            with self._examples_lock:
                self._examples[request] = cached
                while len(self._examples) > EXAMPLE_CACHE_SIZE:
                    self._examples.popitem(last=False)
        return cached
