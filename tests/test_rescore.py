"""`instructedit rescore`: degeneration re-scored from stored continuations, summaries and tables re-made."""
import json

import pytest

from instructedit.evaluation.evaluate import summarise
from workbench.experiments import rescore as rescore_module
from workbench.experiments.rescore import rescore, rescore_evaluation, rescore_sequence

TARGETS = {("zsre", "7"): "1 FC Nürnberg", ("zsre", "8"): "Paris"}
LOOPED = " 1 FC Nürnberg 2001 2001 2001 2001 20"  # a word run the old rules missed
FLUENT = " Paris, the capital of France."


def _row(record_id: str, post: str, degenerate: int, **more) -> dict:
    return {"task": "zsre", "record_id": record_id, "post_text": post, "pre_text": "\nOutput:",
            "degenerate": degenerate, "reliability": 1.0, **more}


def test_an_evaluation_file_is_rescored_and_its_summary_remade():
    rows = [_row("7", LOOPED, 0), _row("8", FLUENT, 0)]
    results = {"instructedit": {"instruction": "seen", "summary": summarise(rows), "records": rows}}
    out, changed = rescore_evaluation(results, TARGETS)
    assert changed == 1
    assert [r["degenerate"] for r in out["instructedit"]["records"]] == [1, 0]
    assert out["instructedit"]["summary"]["zsre"]["degenerate"]["mean"] == 0.5
    assert results["instructedit"]["records"][0]["degenerate"] == 0  # the input is left as it was
    assert rescore_evaluation(out, TARGETS)[1] == 0  # up to date now


def test_a_sequence_file_is_rescored_per_checkpoint():
    point = {"T": 2, "summary": {"degenerate": 0.0, "gen_reliability": 1.0}, "edit_seconds": 1.0,
             "records": [_row("7", LOOPED, 0, position=0), _row("8", FLUENT, 0, position=1)]}
    results = {"instructedit-chains": {"zsre-train": {"task": "zsre", "split": "train", "checkpoints": [point]}}}
    out, changed = rescore_sequence(results, TARGETS)
    summary = out["instructedit-chains"]["zsre-train"]["checkpoints"][0]["summary"]
    assert changed == 1 and summary == {"degenerate": 0.5, "gen_reliability": 1.0}


def test_a_record_missing_from_the_data_is_named():
    rows = [_row("99", LOOPED, 0)]
    with pytest.raises(ValueError, match="record '99' of task 'zsre'"):
        rescore_evaluation({"e": {"instruction": "seen", "summary": {}, "records": rows}}, TARGETS)


def test_files_are_written_again_only_where_a_flag_changed(tmp_path, monkeypatch):
    monkeypatch.setattr(rescore_module, "record_targets", lambda tasks: TARGETS)
    monkeypatch.setattr(rescore_module, "write_summary", lambda folder: None)
    looped = [_row("7", LOOPED, 0)]
    fine = [_row("8", FLUENT, 0)]
    for name, rows in (("figure3", looped), ("table3", fine)):
        (tmp_path / f"{name}.json").write_text(json.dumps(
            {"instructedit": {"instruction": "seen", "summary": summarise(rows), "records": rows}}))
    table3_before = (tmp_path / "table3.json").read_text()
    assert rescore(tmp_path, check=True) == {"table3": 0, "figure3": 1}
    assert not (tmp_path / "figure3.md").exists()  # --check writes nothing
    assert rescore(tmp_path) == {"table3": 0, "figure3": 1}
    assert json.loads((tmp_path / "figure3.json").read_text())["instructedit"]["records"][0]["degenerate"] == 1
    assert "degenerate" in (tmp_path / "figure3.md").read_text()
    assert (tmp_path / "table3.json").read_text() == table3_before and not (tmp_path / "table3.md").exists()
    with pytest.raises(ValueError, match="--files: unknown results file"):
        rescore(tmp_path, ["table4"])


def test_every_committed_results_file_is_scored_by_todays_definition(shared_data):
    """A change of the degeneration rules must come with `instructedit rescore` (the committed texts decide)."""
    changes = rescore(check=True)
    assert {"table3", "figure3", "sequence-chains", "step-sweep"} <= set(changes)
    assert not any(changes.values()), {k: v for k, v in changes.items() if v}
