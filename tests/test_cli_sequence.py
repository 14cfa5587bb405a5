"""`instructedit sequence`: many edits one after another, re-scored at checkpoints, for MEND and FT-L."""
from __future__ import annotations

import json

import pytest

from instructedit.models import loading
from workbench.cli import main


def _records(path):
    path.write_text(json.dumps([{"case_id": i, "prompt": f"The capital of Fact {i} is", "target_new": "Rome",
                                 "rephrase_prompt": f"Fact {i} is in", "locality_prompt": "Tokyo is in",
                                 "locality_ground_truth": "Japan"} for i in range(6)]))


def test_sequence_scores_each_checkpoint_for_every_editor(save_tiny_editor, tmp_path, capsys):
    editor = save_tiny_editor(tmp_path / "ed", jitter=0.05)
    data = tmp_path / "cf.json"
    _records(data)
    code = main(["sequence", "--editor", str(editor), "--editor", "ft-l", "--data", str(data),
                 "--checkpoints", "1,3,5", "--out", str(tmp_path / "seq")])
    assert code == 0
    result = json.loads((tmp_path / "seq.json").read_text())
    assert set(result) == {"ed", "ft-l"}
    for name, run in result.items():
        assert [point["T"] for point in run["checkpoints"]] == [1, 3, 5]
        last = run["checkpoints"][-1]
        assert len(last["records"]) == 5 and 0.0 <= last["summary"]["reliability"] <= 1.0
    assert "| ft-l | 5 |" in capsys.readouterr().out


def test_sequence_guard_options_reach_every_editor(save_tiny_editor, tmp_path):
    editor = save_tiny_editor(tmp_path / "ed", jitter=0.05)
    data = tmp_path / "cf.json"
    _records(data)
    assert main(["sequence", "--editor", str(editor), "--data", str(data), "--checkpoints", "2",
                 "--max-norm", "0.5", "--scale", "0.8", "--out", str(tmp_path / "seq")]) == 0
    result = json.loads((tmp_path / "seq.json").read_text())
    assert result["ed"]["guard"] == {"scale": 0.8, "max_norm": 0.5, "projection": None}


def test_sequence_resolve_and_step_scales_reach_the_editor(save_tiny_editor, tmp_path, monkeypatch):
    """`--resolve` re-solves every edit (reported in the guard, with `--resolve-instruction`'s weight) and
    `--step-scales` replaces the editor's search."""
    from instructedit.editor import step_search

    seen = []
    real = step_search.search_step

    def spy(model, batch, state, first_block, edit, scales, *rest):
        seen.append(tuple(scales))
        return real(model, batch, state, first_block, edit, scales, *rest)

    monkeypatch.setattr("instructedit.editor.editor.search_step", spy)
    editor = save_tiny_editor(tmp_path / "ed", jitter=0.05)
    data = tmp_path / "cf.json"
    _records(data)
    assert main(["sequence", "--editor", str(editor), "--data", str(data), "--checkpoints", "2",
                 "--resolve", "0.5", "--resolve-instruction", "50", "--step-scales", "0.5,1,4",
                 "--instruction", "drawn", "--out", str(tmp_path / "seq")]) == 0
    assert json.loads((tmp_path / "seq.json").read_text())["ed"]["instruction"] == "drawn"
    guard = json.loads((tmp_path / "seq.json").read_text())["ed"]["guard"]
    assert guard["resolve"] == {"weight": 0.5, "ridge": 1e-3, "prior": False, "instruction_weight": 50.0}
    assert seen and set(seen) == {(0.5, 1.0, 4.0)}


@pytest.mark.parametrize("argv, message", [
    (["--checkpoints", "0,10"], "--checkpoints: give numbers of edits >= 1"),
    (["--checkpoints", "ten"], "--checkpoints: whole numbers expected"),
    (["--limit", "0"], "--limit"),
    (["--data", "missing.json"], "--data: missing.json does not exist"),
    (["--max-norm", "0"], "--max-norm: give a number > 0"),
    (["--scale", "-1"], "--scale: give a number > 0"),
    (["--project-energy", "1.5"], "--project-energy: give a share between 0 and 1"),
    (["--resolve", "-1"], "--resolve: give the weight of the preserved keys"),
    (["--step-scales", "2,1"], "--step-scales: step_scales must be strictly ascending"),
    (["--step-scales", "1,x"], "--step-scales:"),
    (["--resolve-max-norm", "3"], "--resolve-max-norm shapes the re-solved edit: give --resolve too"),
    (["--resolve-instruction", "100"], "--resolve-instruction shapes the re-solved edit: give --resolve too"),
    (["--resolve", "1", "--resolve-instruction", "0"], "--resolve-instruction: give a number > 0"),
    (["--resolve", "1", "--resolve-max-norm", "0"], "--resolve-max-norm: give a number > 0"),
])
def test_bad_sequence_input_fails_before_the_model_loads(save_tiny_editor, tmp_path, caplog, monkeypatch, argv,
                                                         message):
    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the inputs were checked")

    monkeypatch.setattr(loading, "load_model", refuse)
    editor = save_tiny_editor(tmp_path / "ed")
    assert main(["sequence", "--editor", str(editor), *argv]) == 2
    assert message in caplog.text
