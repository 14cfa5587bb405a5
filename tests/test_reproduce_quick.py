"""`instructedit reproduce --quick`: the whole pipeline (every suite editor, every experiment) on tiny subsets."""
import json

import pytest

from workbench.experiments.reproduce import instruction_settings, reproduce
from workbench.experiments.sequences import QUICK_CHECKPOINTS
from workbench.experiments.suite import EDITORS, EXPERIMENTS, SEQUENCES

pytestmark = [pytest.mark.slow, pytest.mark.long]


def test_quick_reproduce_writes_every_result_and_resumes(shared_data, tmp_path):
    plan = reproduce(quick=True, root=tmp_path)
    for name in EXPERIMENTS:
        result = json.loads((plan.results / f"{name}.json").read_text())
        settings = instruction_settings(EXPERIMENTS[name], quick=True)
        assert settings == EXPERIMENTS[name].instructions[:2]
        expected = {e if len(EXPERIMENTS[name].instructions) == 1 else f"{e} ({i})"
                    for e in EXPERIMENTS[name].editors for i in settings}
        assert set(result) == expected
        for res in result.values():
            assert set(res["summary"]) == set(EXPERIMENTS[name].tasks)
        assert (plan.results / f"{name}.md").read_text().startswith("| task | metric |")
    for name, experiment in SEQUENCES.items():
        result = json.loads((plan.results / f"{name}.json").read_text())
        assert set(result) == set(experiment.editors)
        for runs in result.values():
            assert set(runs) == {f"{task}-{split}" for task, split in experiment.piece_tasks()}
            for run in runs.values():
                assert run["instruction"] in (experiment.instruction, "none")
                assert [c["T"] for c in run["checkpoints"]] == list(QUICK_CHECKPOINTS)
                assert all(0 <= c["summary"]["gen_locality"] <= 1 for c in run["checkpoints"])
    for name, spec in EDITORS.items():
        assert (tmp_path / name / "best" / "editor.safetensors").is_file()
        train = json.loads((tmp_path / name / "best" / "editor.json").read_text())["train"]
        if spec.start_from:  # trained on from this run's own editor, on chains of two if on chains
            assert train["init_from"] == str(tmp_path / spec.start_from / "best")
            assert train["sequence_length"] in (1, 2)
    provenance = json.loads((plan.results / "provenance.json").read_text())
    assert provenance["quick"] and provenance["data"]["counterfact/test"]["sha256"]
    # a second run finds everything done: nothing is retrained or re-evaluated
    mtime = (tmp_path / "instructedit" / "best" / "editor.safetensors").stat().st_mtime
    again = reproduce(quick=True, root=tmp_path)
    assert (tmp_path / "instructedit" / "best" / "editor.safetensors").stat().st_mtime == mtime
    # the training CPU time of the first run is kept, not replaced or added to
    assert json.loads((again.results / "provenance.json").read_text())["train_cpu_seconds"] == \
        provenance["train_cpu_seconds"]
