"""One edit, three entry points: `instructedit edit`, the app's column and `instructedit eval` give the same
scores for the same record, for every editor kind, and the instruction each editor gets comes from the
editor contract (editors trained without instructions get none, whatever is asked)."""
from __future__ import annotations

import json

import pytest

from instructedit.api import edit_and_report
from instructedit.baselines import FineTuneConfig, FineTuneEditor, NoEditEditor
from instructedit.data.records import EditRecord, Probe
from instructedit.editor.contract import EditorContract
from instructedit.editor.editor import Editor
from instructedit.evaluation.evaluate import evaluate
from instructedit.instructions import Instruction
from tiny_editors import tiny_editor
from workbench.cli import main
from workbench.ui import compare

RECORD = EditRecord(task="counterfact", prompt="The capital of Fact 1 is", target="Rome",
                    rephrases=("Fact 1 has its capital in",), locality=(Probe("Tokyo is in", "Japan"),))
SCORED = ("reliability", "pre_reliability", "generalization", "locality", "p_target", "pre_p_target")


def _cli_edit(editor_dir, capsys, instruction: str = "seen") -> dict:
    code = main(["edit", "--editor", str(editor_dir), "--prompt", RECORD.prompt, "--target", RECORD.target,
                 "--rephrase", RECORD.rephrases[0], "--locality", "Tokyo is in", "Japan",
                 "--instruction", instruction])
    assert code == 0
    return json.loads(capsys.readouterr().out)


def _cli_eval(editor_dir, tmp_path, capsys) -> dict:
    data = tmp_path / "one.json"
    data.write_text(json.dumps([{"case_id": 0, "prompt": RECORD.prompt, "target_new": RECORD.target,
                                 "rephrase_prompt": RECORD.rephrases[0], "locality_prompt": "Tokyo is in",
                                 "locality_ground_truth": "Japan"}]))
    assert main(["eval", "--editor", str(editor_dir), "--data", str(data), "--out", str(tmp_path / "res")]) == 0
    capsys.readouterr()
    return json.loads((tmp_path / "res.json").read_text())[editor_dir.name]


@pytest.mark.parametrize("mode", ["instruct", "multi-task", "single-task"])
def test_cli_edit_app_column_and_eval_agree(tiny_llama, tmp_path, capsys, mode):
    model, tokenizer = tiny_llama
    editor = tiny_editor(model, tokenizer, mode=mode, jitter=0.05, alpha=-0.5)
    editor_dir = tmp_path / f"ed-{mode}"
    editor.save(editor_dir)
    loaded = Editor.load(editor_dir, model).eval()
    from_cli = _cli_edit(editor_dir, capsys)
    spec = compare.ColumnSpec("seen", mode, loaded, Instruction(index=0))
    column = compare.compare(model, tokenizer, RECORD, [spec], max_new_tokens=4).columns[0]
    evaluated = _cli_eval(editor_dir, tmp_path, capsys)["records"][0]
    for key in SCORED:
        assert from_cli[key] == pytest.approx(column.scores[key], abs=1e-6), key
        assert evaluated[key] == pytest.approx(column.scores[key], abs=1e-6), key
    wrapped = from_cli["prompt"].startswith("Task: CounterFact\n")
    assert wrapped == (mode == "instruct")  # MEND editors get no instruction, as in their training
    assert column.prompt_text == from_cli["prompt"]


def test_mend_editor_ignores_an_asked_instruction_everywhere(tiny_llama, tmp_path, capsys):
    model, tokenizer = tiny_llama
    editor = tiny_editor(model, tokenizer, mode="multi-task", jitter=0.05, alpha=-0.5)
    editor.save(tmp_path / "mend")
    unseen = _cli_edit(tmp_path / "mend", capsys, "unseen")
    plain = _cli_edit(tmp_path / "mend", capsys, "none")
    assert unseen["prompt"] == plain["prompt"] == RECORD.prompt and unseen["instruction"] is None
    assert unseen["reliability"] == plain["reliability"] and unseen["p_target"] == plain["p_target"]
    result = evaluate(model, tokenizer, editor, [RECORD], "unseen", progress=False)
    assert result["instruction"] == "none"


@pytest.mark.parametrize("make", [lambda m: FineTuneEditor(m, FineTuneConfig(edit_last_k=1, steps=3)),
                                  lambda m: NoEditEditor(m, edit_last_k=1)], ids=["ft-l", "no-edit"])
def test_baselines_keep_the_contract_and_agree(tiny_llama, make):
    model, tokenizer = tiny_llama
    editor = make(model)
    assert isinstance(editor, EditorContract) and not editor.uses_instructions
    assert editor.instruction_for("unseen").is_none and editor.setting_for("seen") == "none"
    report = edit_and_report(model, tokenizer, editor, RECORD, "seen", max_new_tokens=3)
    column = compare.compare(model, tokenizer, RECORD, [compare.ColumnSpec("x", "b", editor, Instruction(index=0))],
                             3).columns[0]
    evaluated = evaluate(model, tokenizer, editor, [RECORD], "seen", progress=False)["records"][0]
    assert report.prompt_text == RECORD.prompt
    for key in SCORED:
        assert report.scores[key] == pytest.approx(column.scores[key], abs=1e-6), key
        assert evaluated[key] == pytest.approx(report.scores[key], abs=1e-6), key


def test_report_lists_every_probe_with_before_and_after(tiny_llama):
    model, tokenizer = tiny_llama
    editor = tiny_editor(model, tokenizer, jitter=0.05, alpha=-0.5)
    report = edit_and_report(model, tokenizer, editor, RECORD, "seen", max_new_tokens=3)
    assert [(p.kind, p.prompt, p.answer) for p in report.probes] == [
        ("reliability", RECORD.prompt, "Rome"), ("generalization", RECORD.rephrases[0], "Rome"),
        ("locality", "Tokyo is in", "Japan")]
    assert report.probes[0].post_p == pytest.approx(report.scores["p_target"], rel=1e-5)
    assert report.probes[0].pre_p == pytest.approx(report.scores["pre_p_target"], rel=1e-5)
    assert report.probes[0].post_p != report.probes[0].pre_p  # the edit moved p(target)
    assert report.instruction == Instruction(index=0) and report.before is not None


@pytest.mark.parametrize("mode", ["instruct", "multi-task"])
@pytest.mark.parametrize("before, plain", [(True, True), (False, True), (True, False)])
def test_edit_and_reports_ridden_continuations_equal_generating_them_after(tiny_llama, mode, before, plain,
                                                                          monkeypatch):
    """With a step search, `edit_and_report` takes its continuations from the search's check generation
    (`step_search.RideAlong`; the unedited rows always): the same texts as `report_edits` generating them for
    the same edit."""
    from instructedit import api
    from instructedit.api import report_edits

    model, tokenizer = tiny_llama
    generated_after = []  # per unsettled row of the ride-along: whether it is an unedited one
    settle = api.RideAlong.settle
    monkeypatch.setattr(api.RideAlong, "settle", lambda ride, *a: generated_after.extend(
        o is None for o, ids in zip(ride.owner, ride.continued) if ids is None) or settle(ride, *a))
    editor = tiny_editor(model, tokenizer, mode=mode, jitter=0.05).eval()
    editor.config.step_scales = (0.5, 1.0, 8.0, 64.0)
    report = edit_and_report(model, tokenizer, editor, RECORD, "seen", max_new_tokens=6, continue_before=before,
                             plain=plain)
    assert not any(generated_after)  # the base model's rows rode along
    again = report_edits(model, tokenizer, editor, [report.example], report.edit, report.instruction, 6, before,
                         plain)[0]
    assert report.edit.meta["step_scales"]
    assert (report.before, report.after, report.plain_before, report.plain_after) == \
        (again.before, again.after, again.plain_before, again.plain_after)
    assert (report.before is None) != before and (report.plain_after is None) != plain
