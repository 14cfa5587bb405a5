"""`reproduce --shard I/N`: whole editors per shard, dealt out by their work; two shards (run one after the
other here, the later one writing the results) give exactly the file one process writes."""
import json

import pytest

from instructedit.baselines import FineTuneConfig, FineTuneEditor, NoEditEditor
from workbench.experiments import reproduce as reproduce_module
from workbench.experiments import shards
from workbench.experiments.reproduce import Plan, run_experiment, run_sequence_experiment
from workbench.experiments.shards import Shard
from workbench.experiments.suite import EDITORS, EXPERIMENTS, SEQUENCES, Experiment, SequenceExperiment


def test_every_suite_editor_has_one_shard_and_the_shares_balance():
    for count in (1, 2, 3):
        owner = shards.owners(count)
        assert set(owner) >= set(EDITORS) and set(owner.values()) == set(range(1, count + 1))
        weights = shards.group_weights()
        load = [sum(w for name, w in weights.items() if owner[name] == s) for s in range(1, count + 1)]
        assert max(load) - min(load) <= max(weights.values())  # greedy: within one group's work
        for name, spec in EDITORS.items():  # trained on from another editor: on that editor's shard
            assert spec.start_from is None or owner[name] == owner[spec.start_from]
    assert Shard().owns("anything") and Shard.parse(" 2/3 ") == Shard(2, 3)
    for bad in ("0/2", "3/2", "1/0"):
        with pytest.raises(ValueError, match="shard"):
            Shard.parse(bad)


@pytest.fixture()
def toy_suite(monkeypatch):
    """Two baselines, one table and one sequence experiment: "base" goes to shard 1, "ft-l" to shard 2."""
    experiments = {"toy": Experiment(("base", "ft-l"), ("counterfact", "zsre"), per_task=2)}
    sequences = {"toy-seq": SequenceExperiment(("base", "ft-l"), (("zsre", "test"),), (1, 2))}
    for module in (reproduce_module, shards):
        monkeypatch.setattr(module, "EXPERIMENTS", experiments)
        monkeypatch.setattr(module, "SEQUENCES", sequences)
        monkeypatch.setattr(module, "EDITORS", {})
    monkeypatch.setattr(reproduce_module, "QUICK_CHECKPOINTS", (1, 2))
    monkeypatch.setattr(reproduce_module, "BASELINES", {  # the tiny model has two blocks
        "base": lambda model, quick: NoEditEditor(model, edit_last_k=1),
        "ft-l": lambda model, quick: FineTuneEditor(model, FineTuneConfig(edit_last_k=1, steps=2))})
    assert shards.owners(2) == {"base": 1, "ft-l": 2}


def _plan(root, shard: Shard) -> Plan:
    plan = Plan.make(quick=True, root=root)
    plan.shard = shard
    return plan


def _run(plan: Plan, model, tokenizer):
    return (run_experiment(plan, "toy", model, tokenizer), run_sequence_experiment(plan, "toy-seq", model, tokenizer))


def test_two_shards_write_what_one_process_writes(toy_suite, tiny_llama, shared_data, tmp_path):
    model, tokenizer = tiny_llama
    whole = _run(_plan(tmp_path / "one", Shard()), model, tokenizer)
    second = _run(_plan(tmp_path / "two", Shard(2, 2)), model, tokenizer)
    assert second == (None, None)  # "base" is shard 1's and not there yet: no partial results file
    pieces = tmp_path / "two" / "eval" / "pieces"
    assert {p.name for p in pieces.iterdir()} == {"ft-l"}
    assert {p.name for p in (tmp_path / "two" / "sequence" / "toy-seq").iterdir()} == {"ft-l"}
    first = _run(_plan(tmp_path / "two", Shard(1, 2)), model, tokenizer)
    assert all(path is not None for path in first)
    for one, two in zip(whole, first):
        assert _without_timing(json.loads(two.read_text())) == _without_timing(json.loads(one.read_text()))
    assert first[0].with_suffix(".md").read_text() == whole[0].with_suffix(".md").read_text()  # (the sequence
    # table's last column is edits per second)


def _without_timing(value):
    """The results with CPU seconds left out (the same work, timed twice)."""
    if isinstance(value, dict):
        return {k: _without_timing(v) for k, v in value.items() if "seconds" not in k}
    if isinstance(value, list):
        return [_without_timing(v) for v in value]
    return value
