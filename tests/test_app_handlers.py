"""Unit tests of the app's handlers (no server): the edit comparison, the columns, every bad input."""
from __future__ import annotations

import dataclasses

import gradio as gr
import plotly.graph_objects as go
import pytest

from instructedit.api import edit_and_report
from instructedit.instructions import CATALOG, UNSEEN_INDEX
from workbench.ui import compare, plots, validate, verdict
from workbench.ui.handlers import EDIT_OUTPUTS, EditRequest, example_rows
from app_support import EXAMPLES

GOOD = EditRequest(prompt="The Eiffel Tower is in", target="Rome", subject="Eiffel Tower",
                   paraphrases="Where is the Eiffel Tower? In\nThe Eiffel Tower stands in",
                   locality="The capital of Japan is => Tokyo", editor="instructedit", second_editor="mend-multitask",
                   max_new_tokens=6)


def _edit(handlers, request: EditRequest) -> dict:
    """Through the Gradio-facing handler (with its error boundary), positional like the UI calls it; the
    outputs by name."""
    return dict(zip(EDIT_OUTPUTS, handlers.edit(*dataclasses.astuple(request)), strict=True))


@pytest.mark.parametrize("step_scales", [(), (0.5, 1.0, 4.0, 64.0)], ids=["learned-step", "step-search"])
def test_column_equals_library_edit_and_report(app_state, step_scales, monkeypatch):
    """With a step search, the continuations ride along in its check generation (the base model's rows
    always; a column's where its edit settles on the first step checked): still the library's texts."""
    model, tokenizer = app_state.model()
    editor = app_state.editor("instructedit")
    monkeypatch.setattr(editor.config, "step_scales", step_scales)
    generated_after = []
    generate = compare.generate_ids_batch
    monkeypatch.setattr(compare, "generate_ids_batch",
                        lambda model, tokenizer, prompts, *a, **k: generated_after.extend(prompts) or
                        generate(model, tokenizer, prompts, *a, **k))
    record = validate.build_record("counterfact", GOOD.prompt, GOOD.target, GOOD.subject, GOOD.paraphrases,
                                   GOOD.locality)
    instructions = ("seen", "unseen")
    specs = [compare.ColumnSpec(i, "instructedit", editor, validate_instruction(i)) for i in instructions]
    comparison = compare.compare(model, tokenizer, record, specs, max_new_tokens=6)
    for instruction, column in zip(instructions, comparison.columns, strict=True):
        # both columns' edits are rows of one edit batch and every continuation comes from one batched
        # generation: the same texts, the same scores to the last bits of a batched forward
        report = edit_and_report(model, tokenizer, editor, record, instruction, max_new_tokens=6)
        assert column.scores.keys() == report.scores.keys()
        for name, value in report.scores.items():
            same = pytest.approx(value, rel=1e-5, abs=1e-7) if isinstance(value, float) else value
            assert column.scores[name] == same, name
        assert column.prompt_text == report.prompt_text
        assert column.continuation == report.after and column.plain_after == report.plain_after
        assert comparison.plain_before == report.plain_before
    assert comparison.before == edit_and_report(model, tokenizer, editor, record, "seen", max_new_tokens=6).before
    rows = 2 + 1 + 2 * 3  # before: wrapped + plain prompt, a locality probe; per column: prompt, plain, probe
    if step_scales:  # the base model's three rows rode along; a column's three where its step stayed
        assert len(generated_after) in (0, 3, 6)
    else:
        assert len(generated_after) == rows


def validate_instruction(name):
    from instructedit.instructions import Instruction

    return Instruction.parse(name)


def test_edit_gives_three_columns_chart_and_diff(handlers):
    out = _edit(handlers, GOOD)
    assert out["before"] and out["seen"] and out["third_out"] and "p(target)" in out["before_card"]
    assert "Reliability" in out["seen_card"] and "Generalization" in out["third_card"]
    assert "Locality" in out["third_card"] and "unseen" in out["third_title"]
    assert "".join(piece for piece, _ in out["seen_diff"]) == out["seen"]
    chart = out["chart"]
    assert isinstance(chart, go.Figure) and len(chart.data) == 3
    assert all(len(trace.y) == 4 for trace in chart.data)  # edit prompt, 2 paraphrases, 1 locality probe
    summary = out["summary"]
    columns = summary["columns"]
    assert [c["instruction"] for c in columns] == [CATALOG["counterfact"][0], CATALOG["counterfact"][UNSEEN_INDEX]]
    assert summary["before"]["prompt"] == columns[0]["prompt"]
    assert len(out["probes"]) == 4 and list(out["probes"]["Source"]) == ["you"] * 4
    assert out["notice"] == "" and summary["suggested_locality"] is None  # the user gave the locality probe


def test_columns_show_the_plain_prompt_and_a_verdict(handlers, app_state):
    """Before and after columns show the plain prompt's continuation (the wrapped one beside it), each after
    column a verdict in words from the generation metrics."""
    model, tokenizer = app_state.model()
    out = _edit(handlers, GOOD)
    summary = out["summary"]
    plain_before = summary["before"]["plain_continuation"]
    assert out["before"] == plain_before and summary["before"]["plain_prompt"] == GOOD.prompt
    assert out["before_wrapped"] == summary["before"]["continuation"]  # the seen instruction's prompt
    seen = summary["columns"][0]
    report = edit_and_report(model, tokenizer, app_state.editor("instructedit"), validate.build_record(
        "counterfact", GOOD.prompt, GOOD.target, GOOD.subject, GOOD.paraphrases, GOOD.locality), "seen",
        max_new_tokens=6)
    assert out["seen"] == seen["plain_continuation"] == report.plain_after
    assert out["seen_wrapped"] == seen["continuation"] == report.after
    assert plain_before == report.plain_before
    expected = verdict.verdict("Rome", plain_before, report.plain_after,
                               [verdict.NeighbourText(n["prompt"], n["before"], n["after"], n["kept"])
                                for n in seen["neighbours"]], summary["before"]["continuation"], report.after)
    assert seen["verdict"] == expected.text and expected.text in out["seen_card"]
    assert "own instruction" in out["seen_card"]  # why the wrapped pre-edit p(target) differs per column


def test_empty_locality_gets_suggested_neighbours(handlers):
    request = dataclasses.replace(GOOD, prompt="The Eiffel Tower is located in the city of", locality="")
    out = _edit(handlers, request)
    suggested = out["summary"]["suggested_locality"]
    assert suggested["how"].startswith("same relation")
    assert all(p["kind"] == "neighbour" and p["prompt"].endswith("is located in the city of")
               and "Eiffel" not in p["prompt"] for p in suggested["probes"])
    assert suggested["probes"] and "Locality probes suggested" in out["notice"]
    locality = out["probes"][out["probes"]["Probe"].str.startswith("Locality")]
    assert list(locality["Prompt"]) == [p["prompt"] for p in suggested["probes"]]
    assert all(source.startswith("suggested") for source in locality["Source"])


def test_third_column_modes(handlers):
    custom = _edit(handlers, dataclasses.replace(GOOD, third="custom", custom_instruction="Swap the city."))
    assert custom["summary"]["columns"][1]["instruction"] == "Swap the city."
    assert "Description: Swap the city." in custom["summary"]["columns"][1]["prompt"]
    second = _edit(handlers, dataclasses.replace(GOOD, third="editor"))
    column = second["summary"]["columns"][1]
    assert column["editor"] == "mend-multitask" and column["instruction"] is None
    assert column["prompt"] == GOOD.prompt  # MEND editors get no instruction
    assert "mend-multitask" in second["third_title"]
    assert second["third_wrapped"] == "" and second["third_out"] == column["continuation"]


def test_convsent_fills_placeholders(handlers):
    request = EditRequest(prompt="What do you think of jazz?", target="I love it.", task="convsent", topic="jazz",
                          label="negative", editor="instructedit", max_new_tokens=3)
    summary = _edit(handlers, request)["summary"]
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
    assert _edit(handlers, GOOD)["seen"]


@pytest.mark.parametrize("text", ["Le café ☕ est à", "مرحبا بالعالم", "שלום", "👩\u200d💻 coder 👍🏽", "Tab\there",
                                  "Persian ZWNJ: می\u200cخواهم", "❤\ufe0f heart"])
def test_real_text_in_any_script_is_accepted(handlers, text):
    assert validate.check_text(text, "Prompt") == text.strip()
    assert _edit(handlers, dataclasses.replace(GOOD, prompt=text, target="Paris 🇫🇷", max_new_tokens=2))["seen_card"]


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
    assert dict(zip(EDIT_OUTPUTS, handlers.example(*rows[1])))["seen_card"]  # a ConvSent example


def test_example_respects_the_form(handlers, app_settings):
    """An example fills the 8 record fields; the editor, third column and continuation length are the form's."""
    rows, _, _ = example_rows(app_settings.examples_file)
    form = dict(seen_index=3, third="editor", custom_instruction="", editor="instructedit",
                second_editor="mend-multitask", max_new_tokens=2)
    out = dict(zip(EDIT_OUTPUTS, handlers.example(*rows[0], *form.values())))
    columns = out["summary"]["columns"]
    assert [c["editor"] for c in columns] == ["instructedit", "mend-multitask"]
    assert columns[0]["instruction"] == CATALOG["counterfact"][3]
    _, tokenizer = handlers.state.model()
    assert len(tokenizer(columns[1]["continuation"], add_special_tokens=False).input_ids) <= 2
    default = dict(zip(EDIT_OUTPUTS, handlers.example(*rows[0])))
    assert default["summary"]["columns"][1]["title"] == "unseen instruction"


class FakeRequest:
    def __init__(self, session_hash: str, query: dict | None = None):
        self.session_hash, self.query_params = session_hash, query or {}


def test_an_error_replaces_the_outputs_in_place(handlers):
    """After a failed edit, the follow-up (`.failure`) writes that session's message in place of every output."""
    assert _edit(handlers, GOOD)["seen"]
    with pytest.raises(gr.Error):
        handlers.edit(*dataclasses.astuple(dataclasses.replace(GOOD, target="Ro\u200bme")),
                      request=FakeRequest("tab-1"))
    with pytest.raises(gr.Error):
        handlers.edit(*dataclasses.astuple(dataclasses.replace(GOOD, editor="ghost")), request=FakeRequest("tab-2"))
    first = dict(zip(EDIT_OUTPUTS, handlers.failed(FakeRequest("tab-1"))))
    assert "Target: contains the invisible format character U+200B" in first["notice"]
    assert "Target:" in first["seen_card"] and first["seen"] == "" and first["before"] == ""
    assert first["chart"] is None and first["summary"] is None and first["probes"] is None
    assert "Editor: unknown editor" in dict(zip(EDIT_OUTPUTS, handlers.failed(FakeRequest("tab-2"))))["notice"]
    assert "did not finish" in dict(zip(EDIT_OUTPUTS, handlers.failed(FakeRequest("tab-1"))))["notice"]  # taken once


def test_clear_empties_the_form_and_the_outputs(handlers):
    from workbench.ui.form import TEXT_FIELDS

    values = handlers.clear()
    assert values[:len(TEXT_FIELDS)] == ("",) * len(TEXT_FIELDS)
    outputs = dict(zip(EDIT_OUTPUTS, values[len(TEXT_FIELDS):], strict=True))
    assert outputs["summary"] is None and outputs["before"] == "" and outputs["notice"] == ""


def test_prefill_from_a_share_link(handlers):
    from workbench.ui.form import FIELDS, EditRequest as Form

    form = Form("The Eiffel Tower is in", "Rome", "Eiffel Tower", locality="Tokyo is in => Japan", task="zsre",
                seen_index=4, third="editor", editor="mend-multitask", second_editor="instructedit",
                max_new_tokens=7)
    url = handlers.share(*dataclasses.astuple(form), "http://127.0.0.1:7860/?old=1#top")
    assert url.startswith("http://127.0.0.1:7860/?prompt=The+Eiffel+Tower+is+in&target=Rome") and "#" not in url
    from urllib.parse import parse_qsl, urlsplit

    *updates, note = handlers.prefill(FakeRequest("x", dict(parse_qsl(urlsplit(url).query))))
    values = {name: u.get("value") for name, u in zip(FIELDS, updates) if "value" in u}
    assert values == {k: v for k, v in dataclasses.asdict(form).items() if v != getattr(Form("", ""), k)}
    assert note.startswith("Filled from the link: prompt, target")
    *updates, note = handlers.prefill(FakeRequest("x", {"task": "nope", "editor": "ghost", "prompt": "ok"}))
    assert [u.get("value") for u in updates][0] == "ok" and "value" not in updates[5]
    assert "Task: 'nope' is not one of" in note and "Editor: 'ghost' is not one of" in note
    assert all("value" not in u for u in handlers.prefill(FakeRequest("x"))[:-1])


def test_missing_examples_file_is_reported(tmp_path):
    rows, names, note = example_rows(tmp_path / "examples.json")
    assert rows == [] and "does not exist" in note
    (tmp_path / "examples.json").write_text("[{\"prompt\": 1}]")
    assert "malformed" in example_rows(tmp_path / "examples.json")[2]
