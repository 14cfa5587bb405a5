"""The sequence experiments' pieces and table (workbench/experiments/sequences.py), without a model."""
import json

import pytest

from workbench.experiments.sequences import SequencePiece, editor_name, markdown, write_sequence_results
from workbench.experiments.suite import EDITORS, MAIN, SEQUENCES, SequenceExperiment, experiment_names


def _run(marks, n_records=500, source="assets/editors/instructedit"):
    points = [{"T": t, "summary": {"reliability": 1 / t, "gen_reliability": None, "generalization": 0.5,
                                   "locality": 0.9, "gen_locality": 0.8, "degenerate": 0.25, "fluency_ratio": 0.875},
               "edit_seconds": t / 2.0}
              for t in marks]
    return {"task": "zsre", "split": "test", "n_records": n_records, "source": source, "checkpoints": points}


def test_a_piece_is_reused_only_for_its_editor_and_checkpoints_it_reached(tmp_path):
    piece = SequencePiece(tmp_path, "instructedit", "zsre", "test")
    assert piece.load((1, 10), "x") is None
    piece.path.parent.mkdir(parents=True)
    piece.path.write_text(json.dumps(_run((1, 10, 100), source="x")))
    assert piece.load((1, 10), "x")["checkpoints"][-1]["T"] == 100
    assert piece.load((1, 10), "another editor") is None
    assert piece.load((1, 10, 200), "x") is None  # 200 of 500 records not reached yet
    # a split of 100 records caps T: 1000 cannot be reached, so the stored run answers
    piece.path.write_text(json.dumps(_run((1, 10, 100), n_records=100, source="x")))
    assert piece.load((1, 10, 100, 1000), "x") is not None
    # a piece made before the degeneration metric existed is made again
    old = _run((1, 10, 100), source="x")
    for point in old["checkpoints"]:
        del point["summary"]["degenerate"]
    piece.path.write_text(json.dumps(old))
    assert piece.load((1, 10), "x") is None


def test_the_table_has_one_row_per_checkpoint_in_percent(tmp_path):
    path = write_sequence_results({"instructedit": {"zsre-test": _run((1, 10))}}, tmp_path / "sequence")
    table = (tmp_path / "sequence.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| instructedit")]
    assert len(rows) == 2 and json.loads(path.read_text())["instructedit"]["zsre-test"]["n_records"] == 500
    cells = [c.strip() for c in rows[1].split("|")[1:-1]]
    assert cells[:3] == ["instructedit", "zsRE (test)", "10"]
    assert cells[3:] == ["10.0", "–", "50.0", "90.0", "80.0", "25.0", "0.88", "2.00"]
    assert markdown({}).count("\n| ") == 1  # the header only


def test_sequence_experiments_are_declared_checked_and_listed():
    assert {"sequence", "sequence-validation"} <= set(experiment_names())
    for experiment in SEQUENCES.values():
        assert all(editor_name(e) in (*EDITORS, "ft-l") for e in experiment.editors)  # suite editors or FT-L
    validation = [e for name, e in SEQUENCES.items() if name.startswith("sequence-validation")]
    assert len(validation) == 12 and all(split in ("train", "validation") for e in validation for _, split in e.tasks)
    assert all(e.tasks == (("zsre", "train"),) for e in validation if not e.mixed)  # tries: no test record
    with pytest.raises(ValueError, match="checkpoints"):
        SequenceExperiment(("ft-l",), (("zsre", "test"),), (0, 10))
    with pytest.raises(ValueError, match="not one of the experiment's editors"):
        SequenceExperiment(("ft-l",), (("zsre", "test"),), (1,), {"instructedit+cap3": {"max_norm": 3.0}})
    with pytest.raises(ValueError, match="unknown option"):
        SequenceExperiment(("ft-l",), (("zsre", "test"),), (1,), {"ft-l": {"max_nrom": 3.0}})
    with pytest.raises(ValueError, match="instruction must be one of"):
        SequenceExperiment(("ft-l",), (("zsre", "test"),), (1,), instruction="unseen")
    with pytest.raises(ValueError, match="preserved must be a whole number"):
        SequenceExperiment(("ft-l",), (("zsre", "test"),), (1,), {"ft-l": {"resolve": 1.0, "preserved": 0}})
    # every variant of a test run was tried on validation records first
    tried = {entry: options for e in validation for entry, options in e.variants.items()}
    tests = [e for name, e in SEQUENCES.items() if not name.startswith("sequence-validation")]
    assert len(tests) == 6 and all(split == "test" for e in tests for _, split in e.tasks)
    for experiment in tests:
        assert all(tried.get(entry) == options for entry, options in experiment.variants.items())
        assert set(experiment.editors) <= set(MAIN) | set(tried)


def test_a_mixed_experiment_is_one_piece_of_every_pair_and_its_source_names_the_instruction_setting():
    from workbench.experiments.sequences import variant_source

    experiment = SequenceExperiment(("instructedit+r",), (("zsre", "train"), ("recent", "validation")), (1, 20),
                                    {"instructedit+r": {"resolve": 1.0}}, mixed=True, instruction="drawn")
    assert experiment.piece_tasks() == [("zsre+recent", "train+validation")]
    assert variant_source("ed", experiment, "instructedit+r") == 'ed#{"resolve": 1.0}#instruction=drawn'
    plain = SequenceExperiment(("ft-l",), experiment.tasks, (1,))
    assert plain.piece_tasks() == list(experiment.tasks) and variant_source("ed", plain, "ft-l") == "ed"
    run = _run((20,)) | {"task": "zsre+recent", "split": "train+validation"}
    assert "| instructedit+r | zsRE + Recent (train + validation) | 20 |" in markdown({"instructedit+r": {"x": run}})
