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
from workbench.ui.handlers import (DEFAULT_NEW_TOKENS, MAX_NEW_TOKENS, THIRD_MODES, Handlers, example_rows,
                                      seen_choices, unseen_text)
from workbench.ui.results import ResultsTab
from workbench.ui.state import AppState, Settings
from workbench.ui.validate import LOCALITY_SEPARATOR, MAX_LINES

# a 2-vCPU Space: two edits at once (each is CPU-bound), the rest wait in the queue
EDIT_CONCURRENCY = int(os.environ.get("INSTRUCTEDIT_EDIT_CONCURRENCY", "2"))
QUEUE_SIZE = 64
CSS = ".ie-card {min-height: 7em} .ie-status {font-size: 0.9em}"
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
                                             "per line)", lines=2, placeholder=f"The capital of Japan is {LOCALITY_SEPARATOR} Tokyo")
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
            c["button"] = gr.Button("Edit", variant="primary", elem_id="edit-button")
    return c


def _edit_results() -> dict:
    c = {}
    diff_colours = {"changed": "#ffd166"}
    with gr.Row(equal_height=False):
        with gr.Column(elem_id="col-before"):
            gr.Markdown("### Before the edit")
            c["before"] = gr.Textbox(label="Before: greedy continuation", lines=4, interactive=False)
            c["before_card"] = gr.Markdown(label="Before: scores", elem_classes="ie-card")
        with gr.Column(elem_id="col-seen"):
            gr.Markdown("### After the edit: seen instruction")
            c["seen"] = gr.Textbox(label="After (seen): greedy continuation", lines=4, interactive=False)
            c["seen_card"] = gr.Markdown(label="Seen: scores", elem_classes="ie-card")
            c["seen_diff"] = gr.HighlightedText(label="Seen: tokens that differ from before", color_map=diff_colours)
        with gr.Column(elem_id="col-third"):
            c["third_title"] = gr.Markdown("### After the edit: unseen instruction", label="Third: title")
            c["third_out"] = gr.Textbox(label="After (third): greedy continuation", lines=4, interactive=False)
            c["third_card"] = gr.Markdown(label="Third: scores", elem_classes="ie-card")
            c["third_diff"] = gr.HighlightedText(label="Third: tokens that differ from before", color_map=diff_colours)
    c["chart"] = gr.Plot(label="Target probability per probe", elem_id="probe-chart")
    with gr.Accordion("All numbers (JSON)", open=False):
        c["summary"] = gr.JSON(label="Edit report")
    return c


EDIT_INPUTS = ("prompt", "target", "subject", "paraphrases", "locality", "task", "topic", "label", "seen_index",
               "third", "custom_instruction", "editor", "second_editor", "max_new_tokens")
EDIT_OUTPUTS = ("before", "before_card", "seen", "seen_card", "seen_diff", "third_title", "third_out", "third_card",
                "third_diff", "chart", "summary")
EXAMPLE_INPUTS = EDIT_INPUTS[:8]


def _edit_tab(handlers: Handlers, state: AppState) -> gr.Markdown:
    status = gr.Markdown(handlers.status(), label="Status", elem_classes="ie-status")
    form = _edit_form(state, handlers.default_editors())
    rows, names, note = example_rows(state.settings.examples_file)
    examples_slot = gr.Column()
    out = _edit_results()
    inputs, outputs = [form[k] for k in EDIT_INPUTS], [out[k] for k in EDIT_OUTPUTS]
    form["button"].click(handlers.edit, inputs, outputs, api_name="edit", concurrency_limit=EDIT_CONCURRENCY,
                         concurrency_id="edit")
    form["task"].change(handlers.instructions, form["task"], [form["seen_index"], form["unseen_md"], form["topic"],
                                                              form["label"]], api_name="instructions")
    form["editor"].change(handlers.editor_info, form["editor"], form["editor_md"], api_name="editor_info")
    with examples_slot:
        if rows:
            gr.Examples(rows, [form[k] for k in EXAMPLE_INPUTS], outputs, fn=handlers.example, run_on_click=True,
                        cache_examples=False, example_labels=names, api_name="example", api_visibility="public")
        else:
            gr.Markdown(note, elem_classes="ie-status")
    return status, form


def _results_tab(tab: ResultsTab):
    status = gr.Markdown(label="Results status", elem_classes="ie-status")
    refresh = gr.Button("Refresh results", size="sm")
    table3 = gr.Plot(label="Table 3: paper vs ours")
    figure3 = gr.Plot(label="Figure 3: seen vs unseen instruction")
    with gr.Row():
        csv = gr.DownloadButton("Download CSV", size="sm")
        json_file = gr.DownloadButton("Download JSON", size="sm")
    table = gr.Dataframe(label="All numbers (long form)", interactive=False, max_height=400)
    outputs = [status, table3, figure3, table, csv, json_file]
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
    plot = gr.Plot(label="Editing directions")
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
    with gr.Blocks(title="InstructEdit", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        gr.Markdown(INTRO)
        with gr.Tabs():
            with gr.Tab("Edit"):
                status, form = _edit_tab(handlers, state)
            with gr.Tab("Results"):
                load_results, results_outputs = _results_tab(ResultsTab(state.settings.results_dir))
            with gr.Tab("Gradient directions"):
                refresh_sets, sets_outputs = _directions_tab(DirectionsTab(state.settings.directions_dir))
            with gr.Tab("About"):
                gr.Markdown(ABOUT_MD)
        demo.load(handlers.refresh, None, [status, form["editor"], form["second_editor"]], api_name="status")
        demo.load(load_results, None, results_outputs, api_visibility="private")
        demo.load(refresh_sets, None, sets_outputs, api_name="direction_sets")
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=1)
    demo.instructedit_state = state  # for tests and benchmarks: the shared model and editors
    return demo


def launch_options() -> dict:
    """launch() arguments: Gradio 6 takes theme and css here; no SSR, no share link, no MCP, quiet errors."""
    return {"theme": gr.themes.Default(), "css": CSS, "ssr_mode": False, "share": False, "show_error": False,
            "mcp_server": False, "pwa": False, "footer_links": ["api", "gradio"]}


demo = build_demo()

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    demo.launch(**launch_options())
