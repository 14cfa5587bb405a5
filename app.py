"""InstructEdit demo (Gradio 6): the layout only; every handler lives in `workbench.ui`.

Run `python app.py` (honours GRADIO_SERVER_NAME / GRADIO_SERVER_PORT). The model and editors load on the
first edit, not at start-up; INSTRUCTEDIT_MODEL and INSTRUCTEDIT_EDITORS_DIR (see `workbench.ui.state`)
point the app at other ones, e.g. tiny test models; INSTRUCTEDIT_INSTRUCTIONS at an instruction-set file.
"""
from __future__ import annotations

import logging
import os

import gradio as gr

from instructedit.data.records import SENTIMENTS, TASKS
from instructedit.instructions import TASK_NAMES
from workbench.ui.about import ABOUT_MD
from workbench.ui.directions import LAYOUTS, DirectionsTab, list_sets, method_choices
from workbench.ui import cards
from workbench.ui.form import FIELDS, TEXT_FIELDS
from workbench.ui.handlers import (DEFAULT_NEW_TOKENS, EDIT_OUTPUTS, MAX_NEW_TOKENS, THIRD_MODES, Handlers,
                                   example_rows, seen_choices, unseen_text)
from workbench.ui.results import ResultsTab
from workbench.ui.session_tab import HISTORY_HEADERS, SESSION_OUTPUTS, SessionHandlers
from workbench.ui.state import AppState, Settings
from workbench.ui.validate import LOCALITY_SEPARATOR, MAX_LINES

# a 2-vCPU Space: two edits at once (each is CPU-bound), the rest wait in the queue
EDIT_CONCURRENCY = int(os.environ.get("INSTRUCTEDIT_EDIT_CONCURRENCY", "2"))
GROUP = {"concurrency_id": "edit", "concurrency_limit": EDIT_CONCURRENCY}  # every event that runs the model
QUEUE_SIZE = 64
CSS = (".ie-card {min-height: 7em} .ie-status {font-size: 0.9em}"
       # the score tables' headers stay whole words (smaller on phones), the diff badges on one line
       " .ie-card th, .ie-card td {word-break: normal; overflow-wrap: normal; hyphens: none}"
       " .ie-diff .label {white-space: nowrap}"
       " @media (max-width: 520px) {.ie-card table {font-size: 0.8em} .ie-card th, .ie-card td {padding: 4px 6px}}")
INTRO = ("# InstructEdit: instruction-based knowledge editing\n"
         "Edit one fact in a small language model with a MEND editor whose input carries a **task instruction** "
         "(Tian et al., 2024, arXiv:2402.16123). The base model is never modified: each edit applies to your "
         "request only.")


def _edit_form(state: AppState, defaults: tuple) -> dict:
    c = {}
    with gr.Row():
        with gr.Column(scale=3):
            c["prompt"] = gr.Textbox(label="Prompt", placeholder="The Eiffel Tower is located in the city of")
            with gr.Row():
                c["target"] = gr.Textbox(label="Target", placeholder="Rome")
                c["subject"] = gr.Textbox(label="Subject (optional)", placeholder="Eiffel Tower")
            c["paraphrases"] = gr.Textbox(label=f"Paraphrases (optional, one per line, at most {MAX_LINES})", lines=2)
            c["locality"] = gr.Textbox(label=f"Locality probes (optional, one 'prompt {LOCALITY_SEPARATOR} answer' "
                                             "per line)", lines=2, placeholder=f"The capital of Japan is {LOCALITY_SEPARATOR} Tokyo",
                                       info="Left empty: facts of the same relation about other subjects are "
                                            "suggested (else default probes); they show in the probe table.")
            with gr.Row():
                c["task"] = gr.Dropdown(choices=[(TASK_NAMES[t], t) for t in TASKS], value="counterfact", label="Task",
                                        allow_custom_value=True)
                c["topic"] = gr.Textbox(label="Topic (ConvSent)", visible=False)
                c["label"] = gr.Radio(choices=list(SENTIMENTS), value="positive", label="Sentiment (ConvSent)",
                                      visible=False)
        with gr.Column(scale=2):
            names = state.editor_names()
            c["editor"] = gr.Dropdown(choices=names, value=defaults[0], label="Editor",
                                      allow_custom_value=True)
            c["editor_md"] = gr.Markdown(label="Editor info", elem_classes="ie-status")
            c["seen_index"] = gr.Dropdown(choices=seen_choices("counterfact", state.catalog), value=0,
                                          label="Seen instruction", allow_custom_value=True)
            c["unseen_md"] = gr.Markdown(unseen_text("counterfact", state.catalog), label="Unseen instruction")
            c["third"] = gr.Radio(choices=[(label, value) for value, label in THIRD_MODES.items()], value="unseen",
                                  label="Third column")
            c["custom_instruction"] = gr.Textbox(label="Custom instruction (for 'Free-text instruction')", lines=2)
            c["second_editor"] = gr.Dropdown(choices=names, value=defaults[1],
                                             label="Second editor (for 'Second editor')", allow_custom_value=True)
            c["max_new_tokens"] = gr.Slider(1, MAX_NEW_TOKENS, value=DEFAULT_NEW_TOKENS, step=1,
                                            label="Continuation length (tokens)")
            with gr.Row():
                c["button"] = gr.Button("Edit", variant="primary", elem_id="edit-button")
                c["keep"] = gr.Button("Apply and keep", elem_id="keep-button")
            with gr.Row():
                c["clear"] = gr.Button("Clear", size="sm", elem_id="clear-button")
                c["cancel"] = gr.Button("Cancel", size="sm", variant="stop", elem_id="cancel-button")
                c["share"] = gr.Button("Share link", size="sm", elem_id="share-button")
            c["share_url"] = gr.Textbox(label="Share link (opens this form filled in)", buttons=["copy"],
                                        interactive=False, elem_id="share-url")
            c["page_url"] = gr.Textbox(visible=False)  # the browser's address, filled in by the share event's js
    return c


def _after_column(key: str, title: str, diff_colours: dict) -> dict:
    c = {}
    c["title"] = gr.Markdown(f"### After the edit: {title}", label=f"{key}: title")
    c["out"] = gr.Textbox(label=f"After ({key}): the plain prompt's greedy continuation", lines=3,
                          interactive=False)
    c["wrapped"] = gr.Textbox(label=f"After ({key}): the prompt as the editor reads it (with its instruction)",
                              lines=2, max_lines=4, interactive=False)
    c["card"] = gr.Markdown(label=f"{key}: verdict and scores", elem_classes="ie-card")
    c["diff"] = gr.HighlightedText(label=f"{key}: tokens that differ from before (plain prompt)",
                                   color_map=diff_colours, elem_classes="ie-diff")
    return c


def _edit_results() -> dict:
    c = {"notice": gr.Markdown(elem_id="edit-notice", label="Edit notice")}
    diff_colours = {"changed": "#ffd166"}
    with gr.Row(equal_height=False):
        with gr.Column(elem_id="col-before"):
            gr.Markdown("### Before the edit")
            c["before"] = gr.Textbox(label="Before: the plain prompt's greedy continuation", lines=3,
                                     interactive=False)
            c["before_wrapped"] = gr.Textbox(label="Before: the prompt with the seen instruction", lines=2,
                                             max_lines=4, interactive=False)
            c["before_card"] = gr.Markdown(label="Before: scores", elem_classes="ie-card")
        with gr.Column(elem_id="col-seen"):
            seen = _after_column("seen", "seen instruction", diff_colours)
        with gr.Column(elem_id="col-third"):
            third = _after_column("third", "unseen instruction", diff_colours)
    c.update(seen_title=seen["title"], seen=seen["out"], seen_wrapped=seen["wrapped"], seen_card=seen["card"],
             seen_diff=seen["diff"], third_title=third["title"], third_out=third["out"],
             third_wrapped=third["wrapped"], third_card=third["card"], third_diff=third["diff"])
    gr.Markdown(cards.LEGEND, elem_classes="ie-status")
    c["probes"] = gr.Dataframe(label="Probes: p(answer) before and after each edit", interactive=False,
                               elem_id="probe-table", wrap=True)
    c["chart"] = gr.Plot(label="Target probability per probe", elem_id="probe-chart")
    with gr.Accordion("All numbers (JSON)", open=False):
        c["summary"] = gr.JSON(label="Edit report")
    return c


def _session_section() -> dict:
    c = {"session": gr.State(None)}
    with gr.Accordion("Session: edits kept one on top of the other", open=True, elem_id="session"):
        gr.Markdown("**Apply and keep** makes the form's edit (seen instruction) on the model as edited by the "
                    "edits kept so far; after each, every kept edit is checked again. Yours only: other visitors "
                    "and the shared model are not touched.", elem_classes="ie-status")
        c["session_notice"] = gr.Markdown(elem_id="session-notice", label="Session notice")
        c["history"] = gr.Dataframe(headers=HISTORY_HEADERS, label="Kept edits", interactive=False,
                                    elem_id="session-history", wrap=True)
        with gr.Row():
            c["undo_choice"] = gr.Dropdown(choices=[], label="Kept edit", elem_id="undo-choice")
            c["undo"] = gr.Button("Undo this edit", size="sm", elem_id="undo-button")
            c["reset"] = gr.Button("Reset the session", size="sm", elem_id="reset-button")
        with gr.Row():
            c["download"] = gr.DownloadButton("Export session (JSON)", size="sm", elem_id="export-button")
            c["upload"] = gr.UploadButton("Load a session file", file_types=[".json"], type="filepath", size="sm",
                                          elem_id="import-button")
        with gr.Row():
            c["question"] = gr.Textbox(label="Ask the edited model", placeholder="The Eiffel Tower is located in",
                                       scale=3, elem_id="ask-prompt")
            c["ask"] = gr.Button("Ask", size="sm", scale=1, elem_id="ask-button")
        with gr.Row():
            c["ask_before"] = gr.Textbox(label="Base model", interactive=False, elem_id="ask-before")
            c["ask_after"] = gr.Textbox(label="With the session's kept edits", interactive=False, elem_id="ask-after")
    return c


EDIT_INPUTS = FIELDS  # EditRequest's fields, in the order every edit handler takes them
EXAMPLE_INPUTS = EDIT_INPUTS[:8]
SHARE_JS = "(...values) => { values[values.length - 1] = window.location.href; return values; }"


def _wire_session(sessions: SessionHandlers, form: dict, s: dict) -> list:
    inputs = [s["session"]] + [form[k] for k in EDIT_INPUTS]
    outputs = [s[k] for k in SESSION_OUTPUTS]
    failed = {"fn": sessions.failed, "inputs": [s["session"]], "outputs": outputs}
    keep = form["keep"].click(sessions.keep_event, inputs, outputs, api_name="keep", **GROUP)
    keep.failure(**failed)
    undo = s["undo"].click(sessions.undo_event, [s["session"], s["undo_choice"]], outputs, api_name="undo",
                           **GROUP)
    undo.failure(**failed)
    s["reset"].click(sessions.reset_event, s["session"], outputs, api_name="reset").failure(**failed)
    ask = s["ask"].click(sessions.ask_event, [s["session"], s["question"], form["max_new_tokens"]],
                         [s["ask_before"], s["ask_after"]], api_name="ask", **GROUP)
    ask.failure(sessions.failed, [s["session"]], outputs)
    load = s["upload"].upload(sessions.load_event, [s["session"], s["upload"]], outputs, api_name="load_session",
                              **GROUP)
    load.failure(**failed)
    return [keep, undo, ask, load]


def _edit_tab(handlers: Handlers, sessions: SessionHandlers, state: AppState):
    status = gr.Markdown(handlers.status(), label="Status", elem_classes="ie-status")
    link_note = gr.Markdown(label="Link note", elem_classes="ie-status", elem_id="link-note")
    form = _edit_form(state, handlers.default_editors())
    rows, names, note = example_rows(state.settings.examples_file)
    examples_slot = gr.Column()
    out = _edit_results()
    session = _session_section()
    inputs, outputs = [form[k] for k in EDIT_INPUTS], [out[k] for k in EDIT_OUTPUTS]
    edit = form["button"].click(handlers.edit, inputs, outputs, api_name="edit", **GROUP)
    edit.failure(handlers.failed, None, outputs)
    form["task"].change(handlers.instructions, [form["task"], form["seen_index"]],
                        [form["seen_index"], form["unseen_md"], form["topic"], form["label"]], api_name="instructions")
    form["editor"].change(handlers.editor_info, form["editor"], form["editor_md"], api_name="editor_info")
    form["clear"].click(handlers.clear, None, [form[k] for k in TEXT_FIELDS] + outputs, queue=False,
                        api_name="clear")
    form["share"].click(handlers.share, inputs + [form["page_url"]], form["share_url"], js=SHARE_JS, queue=False,
                        api_name="share")
    events = [edit] + _wire_session(sessions, form, session)
    with examples_slot:
        if rows:
            examples = gr.Examples(rows, [form[k] for k in EXAMPLE_INPUTS], cache_examples=False,
                                   example_labels=names, api_name="example", api_visibility="public")
            run = examples.load_input_event.then(handlers.example, inputs, outputs, api_visibility="undocumented",
                                                 **GROUP)
            run.failure(handlers.failed, None, outputs)
            events.append(run)
        else:
            gr.Markdown(note, elem_classes="ie-status")
    form["cancel"].click(None, None, None, cancels=events, queue=False)
    return status, form, link_note


# figures follow the theme: plotly's grey text takes the page's text colour (light and dark mode); data labels
# inside bars keep their own colour. Long words in the long table's headers wrap whole, not mid-word.
FIGURE_CSS = (".ie-figure .main-svg :is(text[class*='title'], g[class*='tick'] > text, .legendtext, .annotation-text, "
              ".cell-text, .bartext-outside) {fill: var(--body-text-color) !important}"
              " .ie-table th, .ie-table td {overflow-wrap: break-word; word-break: normal}")


def _results_tab(tab: ResultsTab):
    status = gr.Markdown(label="Results status", elem_classes="ie-status")
    refresh = gr.Button("Refresh results", size="sm")
    table3 = gr.Plot(label="Table 3: paper vs ours", elem_id="results-table3", elem_classes="ie-figure")
    figure3 = gr.Plot(label="Figure 3: seen vs unseen instruction", elem_id="results-figure3", elem_classes="ie-figure")
    sequence = gr.Plot(label="Sequential editing: after T edits", elem_id="results-sequence",
                       elem_classes="ie-figure")
    with gr.Row():
        csv = gr.DownloadButton("Download CSV", size="sm")
        json_file = gr.DownloadButton("Download JSON", size="sm")
    table = gr.Dataframe(label="All numbers (long form)", interactive=False, max_height=400, elem_classes="ie-table")
    outputs = [status, table3, figure3, table, csv, json_file, sequence]
    refresh.click(tab.load, None, outputs, api_name="results")
    return tab.load, outputs


def _directions_tab(tab: DirectionsTab):
    status = gr.Markdown(tab.status(), label="Directions status", elem_classes="ie-status")
    sets = list_sets(tab.folder)
    first = sets[0] if sets else None
    editor_names, task_names, kinds = tab.choices(first)
    with gr.Row():
        name = gr.Dropdown(choices=sets, value=first, label="Direction set", allow_custom_value=True)
        kind = gr.Dropdown(choices=kinds or ["u_tilde"], value="u_tilde", label="Vectors", allow_custom_value=True)
        method = gr.Radio(choices=method_choices(), value="pca", label="Projection")
        layout = gr.Radio(choices=[(label, v) for v, (label, _) in LAYOUTS.items()], value="separate", label="Layout")
    with gr.Row():
        editors = gr.Dropdown(choices=editor_names, value=editor_names, multiselect=True, allow_custom_value=True,
                              label="Editors")
        tasks = gr.Dropdown(choices=task_names, value=task_names, multiselect=True, allow_custom_value=True,
                            label="Tasks")
    draw = gr.Button("Draw", variant="primary")
    plot = gr.Plot(label="Editing directions", elem_id="directions-plot", elem_classes="ie-figure")
    scores = gr.Dataframe(label="Task separation per editor (full dimension; silhouette, k-NN accuracy)",
                          interactive=False)
    with gr.Row():
        html = gr.DownloadButton("Download HTML", size="sm")
        png_button = gr.Button("Render PNG", size="sm")
        png = gr.DownloadButton("Download PNG", size="sm")
    name.change(tab.options, name, [editors, tasks, kind], api_name="direction_options")
    args = [name, editors, tasks, method, layout, kind]
    draw.click(tab.draw, args, [plot, scores, html], api_name="directions", concurrency_limit=1)
    png_button.click(tab.png, args, png, api_name="directions_png", concurrency_limit=1)
    return tab.refresh, [status, name]


def build_demo(settings: Settings | None = None) -> gr.Blocks:
    """The whole app for `settings` (default: from the environment); nothing heavy is loaded here."""
    state = AppState(settings)
    handlers = Handlers(state)
    sessions = SessionHandlers(state, handlers.errors)
    with gr.Blocks(title="InstructEdit", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        gr.Markdown(INTRO)
        with gr.Tabs():
            with gr.Tab("Edit"):
                status, form, link_note = _edit_tab(handlers, sessions, state)
            with gr.Tab("Results"):
                load_results, results_outputs = _results_tab(ResultsTab(state.settings.results_dir))
            with gr.Tab("Gradient directions"):
                refresh_sets, sets_outputs = _directions_tab(DirectionsTab(state.settings.directions_dir))
            with gr.Tab("About"):
                gr.Markdown(ABOUT_MD)
        demo.load(handlers.refresh, None, [status, form["editor"], form["second_editor"]], api_name="status").then(
            handlers.prefill, None, [form[k] for k in FIELDS] + [link_note], api_visibility="private")
        demo.load(load_results, None, results_outputs, api_visibility="private")
        demo.load(refresh_sets, None, sets_outputs, api_name="direction_sets")
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=1)
    demo.instructedit_state = state  # for tests and benchmarks: the shared model and editors
    return demo


def launch_options() -> dict:
    """launch() arguments: Gradio 6 takes theme and css here; no SSR, no share link, no MCP, quiet errors."""
    return {"theme": gr.themes.Default(), "css": CSS + " " + FIGURE_CSS, "ssr_mode": False, "share": False, "show_error": False,
            "mcp_server": False, "pwa": False, "footer_links": ["api", "gradio"]}


demo = build_demo()

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    demo.launch(**launch_options())
