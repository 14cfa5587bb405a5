"""A session of many edits (the Edit tab's history): kept edits, undo, re-checks, Ask, export and import."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import gradio as gr
import pytest
import torch

from instructedit.baselines import FineTuneConfig, FineTuneEditor
from instructedit.editor.sequence import EditSequence
from instructedit.editor.batched_generation import generate_batch
from workbench.ui import validate
from workbench.ui.form import EditRequest
from workbench.ui.session import SESSION_FORMAT, Session, parse_session
from workbench.ui.session_tab import SESSION_OUTPUTS, SessionHandlers

EDITS = [("The Eiffel Tower is in", "Rome", "Eiffel Tower"), ("The Colosseum is in", "Paris", "Colosseum"),
         ("Big Ben is in", "Berlin", "Big Ben")]
# FT-L on tiny-llama's last block: on a random tiny model each edit moves every prompt, so a later edit with
# another target overrides an earlier one, which the re-checks must see
FTL = FineTuneConfig(edit_last_k=1, steps=25, lr=1e-2, norm_constraint=2e-2)


def _form(prompt, target, subject, **kw) -> EditRequest:
    return EditRequest(prompt, target, subject, editor="instructedit", **kw)


def _session(app_state, edits=EDITS, ftl: bool = False) -> Session:
    model, tokenizer = app_state.model()
    editor = FineTuneEditor(model, FTL) if ftl else app_state.editor("instructedit")
    session = Session(model, tokenizer, editor, "instructedit", "tiny-llama")
    for prompt, target, subject in edits:
        session.apply(_form(prompt, target, subject), validate.build_record("counterfact", prompt, target, subject))
    return session


def _weights(model) -> dict:
    return {n: t.detach().clone() for n, t in model.state_dict().items()}


def _texts(session: Session) -> dict[int, str]:
    return {k.number: session.checks[k.index].plain for k in session.kept}


def _holds(session: Session) -> dict[int, bool]:
    return {k.number: session.checks[k.index].holds for k in session.kept}


def test_three_edits_undo_the_second_first_and_third_still_hold(app_state):
    """Rome, Paris, Rome: the third overrides the second (the re-check says so); once the second is undone
    the first and third hold, and the state is exactly edits 1 and 3 as they were computed."""
    model, tokenizer = app_state.model()
    base = _weights(model)
    edits = [EDITS[0], EDITS[1], ("Big Ben is in", "Rome", "Big Ben")]
    session = _session(app_state, edits, ftl=True)
    assert [k.number for k in session.kept] == [1, 2, 3]
    assert _holds(session) == {1: True, 2: False, 3: True}
    session.undo(2)
    assert [k.number for k in session.kept] == [1, 3]
    assert _holds(session) == {1: True, 3: True}  # first and third still say Rome
    # exactly the edits 1 and 3 (as they were computed), nothing of edit 2 left
    only = EditSequence(model, session.editor, tokenizer.pad_token_id)
    for k in session.kept:
        only.add(session.sequence.entry(k.index).edit)
    prompts = [k.record.prompt for k in session.kept]
    assert generate_batch(model, tokenizer, prompts, only.cumulative(), None, 8) == list(_texts(session).values())
    assert all(torch.equal(t, base[n]) for n, t in model.state_dict().items())  # the shared model is never written


def test_rechecks_see_a_later_edit_override_an_earlier_one(app_state):
    """Each re-check reads the cumulative edit: undoing the last edit restores the earlier checks exactly."""
    model, tokenizer = app_state.model()
    session = _session(app_state, EDITS[:1], ftl=True)
    alone = _texts(session)
    assert _holds(session) == {1: True}
    session.apply(_form(*EDITS[1]), validate.build_record("counterfact", *EDITS[1]))
    assert _holds(session) == {1: False, 2: True}  # the second edit overrode the first: the history says so
    session.undo(2)
    assert _texts(session) == alone
    session.undo(1)
    assert len(session) == 0 and session.sequence.cumulative() is None
    before, after = session.ask("The Eiffel Tower is in", 5)
    assert before == after == generate_batch(model, tokenizer, ["The Eiffel Tower is in"], None, max_new_tokens=5)[0]


def test_ask_the_edited_model(app_state):
    session = _session(app_state, EDITS[:1])
    before, after = session.ask("The Eiffel Tower is in", 6)
    model, tokenizer = app_state.model()
    assert after == generate_batch(model, tokenizer, ["The Eiffel Tower is in"], session.sequence.cumulative(),
                                   max_new_tokens=6)[0]
    assert before != after


def test_export_and_import_round_trip(app_state, tmp_path):
    session = _session(app_state)
    path = session.export(tmp_path)
    data = json.loads(path.read_text())
    assert data["format"] == SESSION_FORMAT and [e["target"] for e in data["edits"]] == ["Rome", "Paris", "Berlin"]
    assert [r["number"] for r in data["results"]] == [1, 2, 3] and "plain_continuation" in data["results"][0]
    parsed = parse_session(path.read_text(), "tiny-llama", ["instructedit", "mend-multitask"])
    again = Session(session.model, session.tokenizer, session.editor, parsed.editor, "tiny-llama")
    for form, record in zip(parsed.requests, parsed.records):
        again.apply(form, record, recheck=False)
    again.recheck()
    assert _texts(again) == _texts(session)  # the edits made again give the same model
    assert json.loads(again.export(tmp_path).read_text())["edits"] == data["edits"]


GOOD_FILE = {"format": SESSION_FORMAT, "version": 1, "model": "tiny-llama", "editor": "instructedit",
             "edits": [{"prompt": "The Eiffel Tower is in", "target": "Rome", "subject": "", "task": "counterfact",
                        "topic": "", "label": "", "seen_index": 0, "paraphrases": [], "locality": []}]}


@pytest.mark.parametrize("change,message", [
    (None, "is not JSON"),
    ({"format": "pickle"}, "format must be 'instructedit-session'"),
    ({"version": 2}, "version must be 1"),
    ({"model": "smollm2-135m"}, "model is 'smollm2-135m', but this app runs 'tiny-llama'"),
    ({"editor": "ghost"}, "editor 'ghost' is not one of"),
    ({"edits": []}, "edits must hold 1 to 20 edits"),
    ({"edits": "x"}, "edits must be list"),
    ({"edits": [7]}, "edits[0] must be an object"),
    ({"edits": [{**GOOD_FILE["edits"][0], "target": " "}]}, "edits[0]: Target: must not be empty"),
    ({"edits": [{**GOOD_FILE["edits"][0], "seen_index": 12}]}, "edits[0]: seen_index: must be a whole number"),
    ({"edits": [{**GOOD_FILE["edits"][0], "prompt": 5}]}, "edits[0].prompt must be str"),
    ({"edits": [{**GOOD_FILE["edits"][0], "locality": [{"prompt": "x"}]}]}, "edits[0]: locality: every probe"),
])
def test_a_bad_session_file_names_the_field(change, message):
    text = "{not json" if change is None else json.dumps({**GOOD_FILE, **change})
    with pytest.raises(validate.InputError) as info:
        parse_session(text, "tiny-llama", ["instructedit"])
    assert str(info.value).startswith("Session file: ") and message in str(info.value)


class FakeRequest:
    def __init__(self, session_hash: str):
        self.session_hash = session_hash


def test_handlers_keep_undo_export_load_and_errors(app_state, tmp_path):
    handlers = SessionHandlers(app_state, folder=tmp_path)
    state = None
    for prompt, target, subject in EDITS:  # hidden fields (ConvSent's topic) arrive as None from the browser
        state, history, choices, note, download = handlers.keep_event(state, *dataclasses.astuple(
            _form(prompt, target, subject, topic=None)))
    assert list(history["#"]) == [1, 2, 3] and [v for _, v in choices.choices] == [1, 2, 3]
    assert note.startswith("Kept edit #3.") and download.endswith(".json")
    replay = dict(zip(SESSION_OUTPUTS, handlers.load_event(None, download)))  # the same edits made again, in order
    assert list(replay["history"]["Plain prompt now continues"]) == list(history["Plain prompt now continues"])
    out = dict(zip(SESSION_OUTPUTS, handlers.undo_event(state, 2)))
    assert list(out["history"]["#"]) == [1, 3] and "Undid edit #2" in out["session_notice"]
    exported = json.loads(Path(out["download"]).read_text())
    assert [e["target"] for e in exported["edits"]] == ["Rome", "Berlin"]
    other = dict(zip(SESSION_OUTPUTS, handlers.load_event(None, out["download"])))
    # edits 1 and 3 made again without edit 2 ever made: edit 3 was computed with edit 2 there (its model and
    # its keys in the re-solve's prior), so only the edits, not their re-checks, must be the same
    assert list(other["history"]["Target"]) == ["Rome", "Berlin"] and other["session"] is not state
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**GOOD_FILE, "version": 3}))
    with pytest.raises(gr.Error, match="Session file: version must be 1"):
        handlers.load_event(state, str(bad), request=FakeRequest("tab"))
    failed = dict(zip(SESSION_OUTPUTS, handlers.failed(state, FakeRequest("tab"))))
    assert "Session file: version must be 1" in failed["session_notice"] and list(failed["history"]["#"]) == [1, 3]
    with pytest.raises(gr.Error, match="Editor: this session's edits are made with 'instructedit'"):
        handlers.keep_event(state, *dataclasses.astuple(dataclasses.replace(_form(*EDITS[0]), editor="mend-multitask")))
    out = dict(zip(SESSION_OUTPUTS, handlers.reset_event(state)))
    assert out["history"].empty and out["download"] is None and "Reset" in out["session_notice"]
    assert handlers.keep_event(state, *dataclasses.astuple(dataclasses.replace(
        _form(*EDITS[0]), editor="mend-multitask")))[0].editor_name == "mend-multitask"  # after a reset: any editor


def test_sessions_are_isolated(app_state, tmp_path):
    handlers = SessionHandlers(app_state, folder=tmp_path)
    first = handlers.keep_event(None, *dataclasses.astuple(_form(*EDITS[0])))[0]
    second = handlers.keep_event(None, *dataclasses.astuple(_form(*EDITS[1])))[0]
    assert [k.record.target for k in first.kept] == ["Rome"] and [k.record.target for k in second.kept] == ["Paris"]
    before, after = handlers.ask_event(first, "The Colosseum is in", 5)
    assert after == first.ask("The Colosseum is in", 5)[1] != second.ask("The Colosseum is in", 5)[1]
    assert before == first.ask("The Colosseum is in", 5)[0] == second.ask("The Colosseum is in", 5)[0]


def test_the_apps_sessions_re_solve_each_edit_against_the_earlier_ones(app_state, tmp_path):
    """A session made by the handlers edits with the setting chosen on validation (`suite.SESSION_OPTIONS`): the
    re-solve (λ, cap; the instructions' keys where the setting weighs them) as its guard, the wider step search on a
    view of the editor (the shared editor unchanged)."""
    from workbench.experiments.suite import SESSION_OPTIONS

    handlers = SessionHandlers(app_state, folder=tmp_path)
    session = handlers.keep_event(None, *dataclasses.astuple(_form(*EDITS[0])))[0]
    handlers.keep_event(session, *dataclasses.astuple(_form(*EDITS[1])))
    resolve = session.sequence.guard.resolve
    assert (resolve.weight, resolve.max_norm) == (SESSION_OPTIONS["resolve"], SESSION_OPTIONS["resolve_max_norm"])
    assert resolve.instruction_weight == SESSION_OPTIONS.get("resolve_instruction", 0.0)
    assert session.sequence._keys.instructions() == list(dict.fromkeys(  # the kept edits' instructions, remembered
        k.prompt_text[: k.prompt_text.index("Input:") + len("Input:")] for k in session.kept))
    assert session.editor.config.step_scales == SESSION_OPTIONS["step_scales"]
    assert app_state.editor("instructedit").config.step_scales != SESSION_OPTIONS["step_scales"]
    assert sorted(session.sequence._keys._open) == [k.index for k in session.kept]  # both edits' keys: the prior
