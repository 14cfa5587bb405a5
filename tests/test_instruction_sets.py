"""Instruction-set files in place of the built-in catalog (eval, edit, the app) and the search's paired comparison."""
from __future__ import annotations

import dataclasses
import json

import pytest

from workbench.cli import main
from instructedit.data.loaders import load_records
from instructedit.editor.editor import Editor
from instructedit.evaluation.evaluate import evaluate
from workbench.instruction_search import CompareOptions, compare
from workbench.instruction_search.compare import COMPARISON_FILE, FRESH_COMPARISON_FILE, REFERENCES
from instructedit.instructions import CATALOG, UNSEEN_INDEX, load_instruction_set
from workbench.ui.handlers import EditRequest, Handlers
from workbench.ui.state import INSTRUCTIONS_ENV, AppState, Settings
from app_support import load_app_module

DESCRIPTIONS = [f"Zebra instruction number {i}: put the new answer in." for i in range(UNSEEN_INDEX + 1)]


@pytest.fixture(scope="module")
def instruction_file(tmp_path_factory):
    """Every task of the built-in catalog, with counterfact's descriptions replaced."""
    path = tmp_path_factory.mktemp("set") / "instructions.json"
    path.write_text(json.dumps({t: list(v) for t, v in CATALOG.items()} | {"counterfact": DESCRIPTIONS}))
    return path


@pytest.fixture(scope="module")
def bad_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("bad") / "instructions.json"
    path.write_text(json.dumps({"counterfact": ["only one description"]}))
    return path


@pytest.fixture(scope="module")
def tiny_editor(save_tiny_editor, tiny_counterfact_file, tmp_path_factory):
    """(editor folder, counterfact data file of 6 records): a non-identity instruct-mode editor on tiny-llama
    (the instruction changes the edit)."""
    return save_tiny_editor(tmp_path_factory.mktemp("editor") / "ed", jitter=0.05), tiny_counterfact_file


# ---- command line -------------------------------------------------------------------------------
def test_eval_with_an_instruction_set_edits_with_the_files_descriptions(tiny_editor, tiny_llama, instruction_file,
                                                                       tmp_path, capsys):
    editor_dir, data = tiny_editor
    args = ["eval", "--editor", str(editor_dir), "--data", str(data), "--limit", "3", "--instruction", "4"]
    assert main([*args, "--instruction-set", str(instruction_file), "--out", str(tmp_path / "res")]) == 0
    result = json.loads((tmp_path / "res.json").read_text())["ed"]
    assert result["instruction_set"] == str(instruction_file)
    model, tokenizer = tiny_llama
    records = load_records(data, "counterfact", stop=3)
    editor = Editor.load(editor_dir, model)
    custom = evaluate(model, tokenizer, editor, records, DESCRIPTIONS[4], progress=False)["records"]
    builtin = evaluate(model, tokenizer, editor, records, CATALOG["counterfact"][4], progress=False)["records"]
    got = [r["p_target"] for r in result["records"]]
    assert got == pytest.approx([r["p_target"] for r in custom], rel=1e-5)
    assert got != pytest.approx([r["p_target"] for r in builtin], rel=1e-5)


def test_edit_with_an_instruction_set_prompts_with_the_files_description(tiny_editor, instruction_file, capsys):
    editor_dir, _ = tiny_editor
    code = main(["edit", "--editor", str(editor_dir), "--prompt", "The capital of France is", "--target", "Rome",
                 "--instruction", "unseen", "--instruction-set", str(instruction_file)])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert f"Description: {DESCRIPTIONS[UNSEEN_INDEX]}\n" in report["prompt"]


def test_a_bad_instruction_set_is_a_clear_error_naming_the_flag(tiny_editor, bad_file, caplog):
    editor_dir, data = tiny_editor
    assert main(["eval", "--editor", str(editor_dir), "--data", str(data), "--instruction-set", str(bad_file)]) == 2
    assert "--instruction-set" in caplog.text and "exactly 10" in caplog.text


# ---- the app ------------------------------------------------------------------------------------
def test_app_shows_and_edits_with_the_instructions_setting(app_env, instruction_file):
    state = AppState(Settings.from_env(app_env | {INSTRUCTIONS_ENV: str(instruction_file)}))
    handlers = Handlers(state)
    dropdown, unseen, *_ = handlers.instructions("counterfact")
    assert [label for label, _ in dropdown.choices] == [f"{i + 1}. {t}" for i, t in enumerate(DESCRIPTIONS[:9])]
    assert DESCRIPTIONS[UNSEEN_INDEX] in unseen and str(instruction_file) in handlers.status()
    assert CATALOG["recent"][0] in handlers.instructions("recent")[0].choices[0][0]  # other tasks as in the file
    request = EditRequest(prompt="The Eiffel Tower is in", target="Rome", editor="instructedit", seen_index=2,
                          max_new_tokens=2)
    summary = handlers.edit(*dataclasses.astuple(request))[-1]
    assert [c["instruction"] for c in summary["columns"]] == [DESCRIPTIONS[2], DESCRIPTIONS[UNSEEN_INDEX]]


def test_app_layout_takes_the_seen_dropdown_from_the_instructions_setting(app_env, instruction_file):
    import gradio as gr

    demo = load_app_module().build_demo(Settings.from_env(app_env | {INSTRUCTIONS_ENV: str(instruction_file)}))
    seen = next(b for b in demo.blocks.values() if isinstance(b, gr.Dropdown) and b.label == "Seen instruction")
    assert [label for label, _ in seen.choices][0] == f"1. {DESCRIPTIONS[0]}"


@pytest.mark.parametrize("kind", ["invalid", "missing"])
def test_a_bad_instructions_setting_fails_at_start_up_naming_it(app_env, bad_file, tmp_path, kind):
    path = bad_file if kind == "invalid" else tmp_path / "absent.json"
    with pytest.raises(ValueError, match=f"{INSTRUCTIONS_ENV}=.*not a usable instruction-set file"):
        AppState(Settings.from_env(app_env | {INSTRUCTIONS_ENV: str(path)}))


# ---- the search's paired comparison --------------------------------------------------------------
@pytest.fixture(scope="module")
def finished_search(tiny_editor, tmp_path_factory):
    editor_dir, data = tiny_editor
    out = tmp_path_factory.mktemp("search")
    assert main(["instructions", "optimize", "--task", "counterfact", "--editor", str(editor_dir), "--data", str(data),
                 "--out", str(out), "--rounds", "1", "--candidates", "2", "--val-records", "2"]) == 0
    return out


def _check_report(report: dict, best: str, records: int) -> None:
    names = ["best", *REFERENCES]
    assert list(report["instructions"]) == names and report["records"] == records
    texts = [report["instructions"][n]["text"] for n in names]
    assert texts == [best, CATALOG["counterfact"][0], CATALOG["counterfact"][UNSEEN_INDEX]]
    for name in names:
        row = report["instructions"][name]
        assert 0 <= row["score"] <= 1 and {"reliability", "generalization", "locality"} <= set(row)
    for name in REFERENCES:
        ci = report["paired_bootstrap_95ci_best_minus"][name]
        diff = report["instructions"]["best"]["score"] - report["instructions"][name]["score"]
        assert ci["difference"] == pytest.approx(diff) and ci["ci_low"] <= ci["ci_high"]


def test_compare_writes_the_three_instructions_and_paired_intervals(finished_search):
    best = json.loads((finished_search / "result.json").read_text())["best"]
    report = compare(finished_search, CompareOptions(resamples=200))
    assert report == json.loads((finished_search / COMPARISON_FILE).read_text())
    _check_report(report, best["text"], records=2)
    assert report["instructions"]["best"]["score"] == pytest.approx(best["score"])  # as the search scored it
    assert report["slice"].startswith("the search's slice") and report["resamples"] == 200


def test_cli_compare_on_fresh_records(finished_search, capsys):
    best = json.loads((finished_search / "result.json").read_text())["best"]
    assert main(["instructions", "compare", "--out", str(finished_search), "--fresh", "--resamples", "100"]) == 0
    report = json.loads((finished_search / FRESH_COMPARISON_FILE).read_text())
    assert report == json.loads(capsys.readouterr().out)
    _check_report(report, best["text"], records=4)  # the 4 records before the search's 2
    assert "[-6:-2] (not seen by the search)" in report["slice"]


def test_compare_needs_a_finished_search(tmp_path, caplog):
    assert main(["instructions", "compare", "--out", str(tmp_path)]) == 2
    assert "out:" in caplog.text and "result.json" in caplog.text


def test_the_recorded_comparisons_match_the_recorded_run():
    from instructedit.paths import ASSETS_DIR

    folder = ASSETS_DIR / "results" / "instruction-optimization"
    if not (folder / FRESH_COMPARISON_FILE).is_file():
        pytest.skip("no recorded comparison in assets/results/instruction-optimization")
    result = json.loads((folder / "result.json").read_text())
    catalog = load_instruction_set(folder / "instructions.json")
    for name, records in ((COMPARISON_FILE, 30), (FRESH_COMPARISON_FILE, 60)):
        report = json.loads((folder / name).read_text())
        assert report["records"] == records and report["instructions"]["best"]["text"] == catalog["recent"][0]
        assert report["instructions"]["best"]["text"] == result["best"]["text"]
    search_slice = json.loads((folder / COMPARISON_FILE).read_text())["instructions"]["best"]
    assert search_slice["score"] == pytest.approx(result["best"]["score"], abs=1e-6)
