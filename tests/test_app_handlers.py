"""Unit tests of the app's handlers (no server): the edit comparison, the columns, every bad input."""
from __future__ import annotations

import dataclasses

import gradio as gr
import plotly.graph_objects as go
import pytest

from instructedit.api import edit_and_report
from instructedit.instructions import CATALOG, UNSEEN_INDEX
from workbench.ui import compare, plots, validate
from workbench.ui.handlers import EditRequest, example_rows
from app_support import EXAMPLES

GOOD = EditRequest(prompt="The Eiffel Tower is in", target="Rome", subject="Eiffel Tower",
                   paraphrases="Where is the Eiffel Tower? In\nThe Eiffel Tower stands in",
                   locality="The capital of Japan is => Tokyo", editor="instructedit", second_editor="mend-multitask",
                   max_new_tokens=6)


def _edit(handlers, request: EditRequest):
    """Through the Gradio-facing handler (with its error boundary), positional like the UI calls it."""
    return handlers.edit(*dataclasses.astuple(request))


def test_column_equals_library_edit_and_report(app_state):
    model, tokenizer = app_state.model()
    editor = app_state.editor("instructedit")
    record = validate.build_record("counterfact", GOOD.prompt, GOOD.target, GOOD.subject, GOOD.paraphrases,
                                   GOOD.locality)
    for instruction in ("seen", "unseen"):
        spec = compare.ColumnSpec("x", "instructedit", editor, validate_instruction(instruction))
        column = compare.run_column(model, tokenizer, spec, record, max_new_tokens=6)
        report = edit_and_report(model, tokenizer, editor, record, instruction, max_new_tokens=6)
        assert column.scores == report.scores
        assert column.continuation == report.after and column.prompt_text == report.prompt_text


def validate_instruction(name):
    from instructedit.instructions import Instruction

    return Instruction.parse(name)


def test_edit_gives_three_columns_chart_and_diff(handlers):
    out = _edit(handlers, GOOD)
    before, before_card, seen, seen_card, seen_diff, third_title, third, third_card, third_diff, chart, summary = out
    assert before and seen and third and "p(target)" in before_card
    assert "Reliability" in seen_card and "Generalization" in third_card and "Locality" in third_card
    assert "unseen" in third_title
    assert "".join(piece for piece, _ in seen_diff) == seen
    assert isinstance(chart, go.Figure) and len(chart.data) == 3
    assert all(len(trace.y) == 4 for trace in chart.data)  # edit prompt, 2 paraphrases, 1 locality probe
    columns = summary["columns"]
    assert [c["instruction"] for c in columns] == [CATALOG["counterfact"][0], CATALOG["counterfact"][UNSEEN_INDEX]]
    assert summary["before"]["prompt"] == columns[0]["prompt"]


def test_third_column_modes(handlers):
    custom = _edit(handlers, dataclasses.replace(GOOD, third="custom", custom_instruction="Swap the city."))
    assert custom[10]["columns"][1]["instruction"] == "Swap the city."
    assert "Description: Swap the city." in custom[10]["columns"][1]["prompt"]
    second = _edit(handlers, dataclasses.replace(GOOD, third="editor"))
    column = second[10]["columns"][1]
    assert column["editor"] == "mend-multitask" and column["instruction"] is None
    assert column["prompt"] == GOOD.prompt  # MEND editors get no instruction
    assert "mend-multitask" in second[5]


def test_convsent_fills_placeholders(handlers):
    request = EditRequest(prompt="What do you think of jazz?", target="I love it.", task="convsent", topic="jazz",
                          label="negative", editor="instructedit", max_new_tokens=3)
    summary = _edit(handlers, request)[10]
    assert "[TOPIC]" not in summary["columns"][0]["instruction"] and "jazz" in summary["columns"][0]["instruction"]


def test_token_diff_marks_only_changed_tokens(app_state):
    _, tokenizer = app_state.model()
    pieces = plots.token_diff(tokenizer, " Paris is the capital", " Rome is the capital")
    assert "".join(p for p, _ in pieces) == " Rome is the capital"
    changed = "".join(p for p, label in pieces if label == plots.CHANGED)
    assert "Rome" in changed and "capital" not in changed
    assert plots.token_diff(tokenizer, "same text", "same text") == [("same text", None)]
    assert plots.token_diff(tokenizer, "x", "") == []


BAD_INPUTS = [
    ({"prompt": ""}, "Prompt"),
    ({"prompt": "   \n "}, "Prompt"),
    ({"target": ""}, "Target"),
    ({"prompt": 123}, "Prompt"),
    ({"prompt": "The \ud800 tower is in"}, "Prompt: contains an unpaired surrogate"),
    ({"target": "Ro\u200bme"}, "Target: contains the invisible format character U+200B"),
    ({"subject": "\u202eEiffel"}, "Subject: contains the invisible bidirectional control U+202E"),
    ({"prompt": "\ufeffThe tower is in"}, "Prompt: contains the invisible format character U+FEFF"),
    ({"target": "\u200d\u200d"}, "Target: holds only invisible characters"),
    ({"paraphrases": "Where\x00 is it"}, "Paraphrases: contains the control character U+0000"),
    ({"prompt": "private \ue000 use"}, "Prompt: contains the private-use"),
    ({"prompt": "word " * 500}, "Prompt: is 2500 characters long; the limit is 2000"),
    ({"prompt": "word " * 300}, "Prompt: prompt with its target is"),
    ({"paraphrases": "ok\n" + "word " * 300}, "Paraphrases (line 2)"),
    ({"paraphrases": "\n".join(["p"] * 11)}, "Paraphrases: has 11 lines"),
    ({"locality": "no separator here"}, "Locality probes (line 1): write each probe as"),
    ({"locality": "=> Tokyo"}, "Locality probes (line 1), prompt"),
    ({"locality": "ok => fine\nThe capital is =>  "}, "Locality probes (line 2), answer"),
    ({"task": "unknown-task"}, "Task:"),
    ({"editor": "no-such-editor"}, "Editor: unknown editor"),
    ({"editor": None}, "Editor: unknown editor"),
    ({"third": "editor", "second_editor": "no-such-editor"}, "Second editor: "),
    ({"third": "custom", "custom_instruction": "x" * 501}, "Custom instruction: is 501 characters long"),
    ({"third": "custom", "custom_instruction": "  "}, "Custom instruction: must not be empty"),
    ({"third": "custom", "custom_instruction": "a\u2066b"}, "Custom instruction: contains the invisible"),
    ({"third": "sideways"}, "Third column"),
    ({"seen_index": 9}, "Seen instruction"),
    ({"seen_index": "two"}, "Seen instruction"),
    ({"max_new_tokens": 0}, "Continuation length"),
    ({"max_new_tokens": 10_000}, "Continuation length"),
    ({"task": "convsent", "topic": ""}, "Topic"),
    ({"task": "convsent", "topic": "jazz", "label": "neutral"}, "Sentiment"),
]


@pytest.mark.parametrize("change,message", BAD_INPUTS, ids=[f"{i}-{m.split(':')[0]}" for i, (_, m) in enumerate(BAD_INPUTS)])
def test_bad_input_names_the_field(handlers, change, message):
    with pytest.raises(gr.Error) as info:
        _edit(handlers, dataclasses.replace(GOOD, **change))
    assert message in info.value.message
    assert "Traceback" not in info.value.message


def test_next_request_works_after_errors(handlers):
    for change, _ in BAD_INPUTS[:6]:
        with pytest.raises(gr.Error):
            _edit(handlers, dataclasses.replace(GOOD, **change))
    assert _edit(handlers, GOOD)[2]


@pytest.mark.parametrize("text", ["Le café ☕ est à", "مرحبا بالعالم", "שלום", "👩\u200d💻 coder 👍🏽", "Tab\there",
                                  "Persian ZWNJ: می\u200cخواهم", "❤\ufe0f heart"])
def test_real_text_in_any_script_is_accepted(handlers, text):
    assert validate.check_text(text, "Prompt") == text.strip()
    assert _edit(handlers, dataclasses.replace(GOOD, prompt=text, target="Paris 🇫🇷", max_new_tokens=2))[2] is not None


def test_library_messages_map_to_ui_fields():
    assert validate.field_label("rephrases[1] with its target is 300 tokens") == "Paraphrases (line 2)"
    assert validate.field_label("field 'locality[0].answer': must not be empty") == "Locality probes (line 1)"
    assert validate.field_label("target of 'prompt' produced no tokens") == "Target"
    assert validate.field_label("target of 'locality[2]' produced no tokens") == "Locality probes (line 3), answer"
    assert validate.field_label("prompt is empty: the target would have no context") == "Prompt"
    assert validate.field_label("nothing here") == "Input"


def test_task_change_and_editor_info(handlers):
    seen, unseen, topic, label = handlers.instructions("convsent")
    assert len(seen.choices) == 9 and topic.visible and label.visible
    assert CATALOG["convsent"][UNSEEN_INDEX][:20] in unseen
    assert not handlers.instructions("zsre")[2].visible
    assert "mode `instruct`" in handlers.editor_info("instructedit")
    assert "multi-task" in handlers.editor_info("mend-multitask")
    with pytest.raises(gr.Error, match="Task"):
        handlers.instructions("nope")
    with pytest.raises(gr.Error, match="Editor: unknown editor"):
        handlers.editor_info("nope")


def test_examples_load_and_cache(handlers, app_settings):
    rows, names, note = example_rows(app_settings.examples_file)
    assert names == [e["name"] for e in EXAMPLES] and not note
    assert rows[0][4] == "The capital of Japan is => Tokyo"
    first = handlers.example(*rows[0])
    assert handlers.example(*rows[0]) is first  # cached in memory after the first use
    assert handlers.example(*rows[1])[2] is not None  # a ConvSent example


def test_missing_examples_file_is_reported(tmp_path):
    rows, names, note = example_rows(tmp_path / "examples.json")
    assert rows == [] and "does not exist" in note
    (tmp_path / "examples.json").write_text("[{\"prompt\": 1}]")
    assert "malformed" in example_rows(tmp_path / "examples.json")[2]
