"""Training on chains of edits (`training/chain.py`, issue #14): edit k of a chain is made and scored on the model as
edited by the chain's earlier edits, the retention term scores those earlier edits after it, a chain starts at every
multiple of `sequence_length`, resuming is exact, and `init_from` starts from a trained editor."""
from __future__ import annotations

import pytest
import torch

from instructedit.editor.editor import Editor
from instructedit.editor.forward import full_logits, per_record_nll
from instructedit.editor.hooks import active_edit
from instructedit.tokenize import collate
from instructedit.training.chain import EditChain
from instructedit.training.config import TrainConfig
from instructedit.training.trainer import Trainer
from toy import toy_records


def _config(tmp_path, **kw) -> TrainConfig:
    base = dict(model="tiny-llama", trunk_store=False, editor=dict(edit_last_k=1, rank=16, mode="single-task",
                tasks=["counterfact"]), steps=6, edits_per_step=2, lr=1e-3, alpha_lr=1e-3, eval_every=3, save_every=3,
                val_records=4, norm_warmup_batches=2, sequence_length=3, out_dir=str(tmp_path / "run"))
    return TrainConfig(**(base | kw))


def _ready(tmp_path, tiny_llama, **kw) -> Trainer:
    model, tokenizer = tiny_llama
    trainer = Trainer(_config(tmp_path, **kw), model, tokenizer, {"counterfact": toy_records(40)})
    trainer.fill_cache()
    trainer.warm_up_norms()
    return trainer


def _nll(trainer, pairs) -> torch.Tensor:
    """Per-pair NLL of `pairs` on the model as it runs in the caller's context (full forward, no trunk cache)."""
    logits, targets, rows = full_logits(trainer.model, collate(pairs, trainer.tokenizer.pad_token_id))
    return per_record_nll(logits, targets, rows, len(pairs))


def test_a_chain_restarts_every_sequence_length_steps(tiny_llama, tmp_path):
    trainer = _ready(tmp_path, tiny_llama)
    lengths = []
    for _ in range(7):
        trainer.step()
        lengths.append(len(trainer.chain))
    assert lengths == [1, 2, 3, 1, 2, 3, 1]
    rows = trainer.chain.carried.factors[trainer.editor.weight_names[0]].u.shape[0]
    assert rows == trainer.config.edits_per_step  # one chain per row of the batch


def test_the_carried_edit_is_the_sum_of_the_chain_s_edits(tiny_llama, tmp_path):
    trainer = _ready(tmp_path, tiny_llama)
    edits = []
    for _ in range(2):
        trainer.step()
        edits.append(trainer.objective.last_edit)
    model, name = trainer.model, trainer.editor.weight_names[0]
    x = torch.randn(2, 5, trainer.editor.shapes[name][0])
    expected = sum(e.factors[name].output_delta(x) for e in edits)
    assert torch.allclose(trainer.chain.carried.factors[name].output_delta(x), expected, atol=1e-5)
    ids = torch.tensor([trainer.val_ex[0].edit[0]] * 2)
    with trainer.chain.applied(model, [0, 1]):
        chained = model(ids).logits
    with active_edit(model, edits[0].take([0, 1])), active_edit(model, edits[1].take([0, 1]), stack=True):
        stacked = model(ids).logits
    assert torch.allclose(chained, stacked, atol=1e-5) and not torch.allclose(chained, model(ids).logits, atol=1e-3)


def test_an_edit_of_a_chain_is_made_on_the_edited_model(tiny_llama, tmp_path):
    trainer = _ready(tmp_path, tiny_llama)
    trainer.step()  # the chain now holds one edit per row
    examples = trainer._sample(trainer.step_count)
    model = trainer.model
    with trainer.chain.applied(model, list(range(len(examples)))):
        on_chain = _nll(trainer, [ex.edit for ex in examples]).sum() / len(examples)
    losses = trainer.objective(examples, update_stats=False, chain=trainer.chain)
    assert float(losses["pre_edit_nll"]) == pytest.approx(float(on_chain), rel=1e-4)
    alone = trainer.objective(examples, update_stats=False)
    assert abs(float(alone["pre_edit_nll"]) - float(on_chain)) > 1e-5  # the base model's loss is another one


def test_the_retention_term_scores_earlier_targets_after_the_new_edit(tiny_llama, tmp_path):
    trainer = _ready(tmp_path, tiny_llama, c_retain=0.5)
    trainer.step()
    trainer.step()
    examples = trainer._sample(trainer.step_count)
    retained = trainer._chain_inputs()["retained"]
    assert [row for row, _ in retained] == [0, 0, 1, 1]  # two earlier edits per row, retain_probes = 2
    torch.manual_seed(0)
    with_term = trainer.objective(examples, update_stats=False, chain=trainer.chain, retained=retained)
    new = trainer.objective.last_edit
    rows = [row for row, _ in retained]
    with trainer.chain.applied(trainer.model, rows), active_edit(trainer.model, new.take(rows), stack=True):
        expected = _nll(trainer, [ex.edit for _, ex in retained]).mean()
    assert float(with_term["retain_nll"]) == pytest.approx(float(expected), rel=1e-4)
    without = trainer.objective(examples, update_stats=False, chain=trainer.chain)
    assert float(with_term["loss"].detach()) == pytest.approx(float(without["loss"].detach()) + 0.5 * float(expected),
                                                      rel=1e-4)


def test_a_killed_chain_run_resumes_to_the_same_end(tiny_llama, tmp_path):
    model, tokenizer = tiny_llama
    records = {"counterfact": toy_records(40)}
    full = Trainer(_config(tmp_path / "a", c_retain=0.5), model, tokenizer, records)
    full.train()
    Trainer(_config(tmp_path / "b", c_retain=0.5, steps=3), model, tokenizer, records).train()
    resumed = Trainer(_config(tmp_path / "b", c_retain=0.5), model, tokenizer, records)
    resumed.train()
    assert resumed.step_count == 6
    for (n, a), (_, b) in zip(full.editor.state_dict().items(), resumed.editor.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-5), n


def test_init_from_starts_at_a_trained_editor_and_keeps_its_statistics(tiny_llama, tmp_path):
    model, tokenizer = tiny_llama
    first = _ready(tmp_path / "first", tiny_llama, sequence_length=1, steps=3)
    first.train()
    start = Editor.load(first.out / "best", model)
    later = Trainer(_config(tmp_path / "later", init_from=str(first.out / "best")), model, tokenizer,
                    {"counterfact": toy_records(40)})
    for (n, a), (_, b) in zip(start.state_dict().items(), later.editor.state_dict().items()):
        assert torch.equal(a, b), n
    later.fill_cache()
    later.train()  # no warm-up: the started editor's statistics are updated from there, not re-collected
    assert later.step_count == 6
    name = next(iter(start.norms))
    assert int(later.editor.norms[name].count) > int(start.norms[name].count)


@pytest.mark.parametrize("bad,field", [({"sequence_length": 0}, "sequence_length"),
                                       ({"c_retain": 1.0}, "c_retain needs sequence_length"),
                                       ({"sequence_length": 4}, "multiples of sequence_length"),
                                       ({"retain_probes": 0}, "retain_probes"),
                                       ({"init_from": "/nonexistent"}, "init_from"),
                                       ({"init_from": "assets/editors/instructedit", "editor": {"rank": 64}},
                                        "editor.rank")])
def test_chain_settings_are_checked_before_anything_loads(bad, field):
    with pytest.raises(ValueError, match=field):
        TrainConfig.from_dict(bad)


def test_a_chain_needs_two_edits():
    with pytest.raises(ValueError, match="at least 2"):
        EditChain(1)
