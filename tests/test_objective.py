"""The training objective's terms beyond the paper's: the KL on the base model's continuation after the
target (c_cont) and locality KL on one probe of each locality group."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from instructedit.data.records import Probe
from instructedit.training.config import TrainConfig
from instructedit.training.continuation import continuation_pairs, example_key
from instructedit.training.trainer import Trainer
from instructedit.tokenize import IGNORE
from toy import toy_records


def _config(tmp_path, **kw) -> TrainConfig:
    base = dict(model="tiny-llama", trunk_store=False, editor=dict(edit_last_k=1, rank=16, mode="single-task",
                tasks=["counterfact"]), steps=3, edits_per_step=4, lr=1e-3, alpha_lr=1e-3, eval_every=3,
                val_records=4, norm_warmup_batches=2, out_dir=str(tmp_path / "run"))
    return TrainConfig(**(base | kw))


def _grouped_records(n: int):
    """Toy records with a neighbour and a same-subject probe after the unrelated one."""
    out = []
    for rec in toy_records(n):
        extra = (Probe(f"The capital of Other {rec.record_id} is", "Paris", ("Paris",), kind="neighbour"),
                 Probe(f"The river of {rec.subject} is", "Nile", ("Nile",), kind="Relation_Specificity"))
        first = rec.locality[0]
        out.append(dataclasses.replace(rec, locality=(Probe(first.prompt, first.answer, kind="unrelated"),) + extra))
    return out


def test_continuation_pairs_label_only_the_base_continuation(tiny_llama, tmp_path):
    model, tokenizer = tiny_llama
    trainer = Trainer(_config(tmp_path), model, tokenizer, {"counterfact": toy_records(12)})
    examples = [ex for exs in trainer.train_ex.values() for ex in exs][:5]
    pairs = continuation_pairs(model, examples, tokenizer.pad_token_id, 4)
    assert pairs
    for ex in examples:
        pair = pairs.get(example_key(ex))
        if pair is None:
            continue
        ids, labels = pair
        n = len(ex.edit[0])
        assert ids[:n] == list(ex.edit[0]) and all(lab == IGNORE for lab in labels[:n])
        assert 1 <= len(ids) - n <= 4 and labels[n:] == ids[n:]
        greedy = model.generate(torch.tensor([ex.edit[0]]), max_new_tokens=len(ids) - n, do_sample=False,
                                pad_token_id=tokenizer.pad_token_id)[0, n:].tolist()
        assert ids[n:] == greedy  # the base model's own greedy continuation


def test_continuation_kl_is_zero_without_an_edit_effect_and_counts_with_c_cont(tiny_llama, tmp_path):
    model, tokenizer = tiny_llama
    records = {"counterfact": toy_records(20)}
    off = Trainer(_config(tmp_path / "off"), model, tokenizer, records)
    on = Trainer(_config(tmp_path / "on", c_cont=2.0), model, tokenizer, records)
    for trainer in (off, on):
        trainer.fill_cache()
        trainer.warm_up_norms()
    assert not off.objective.continuations and on.objective.continuations
    torch.manual_seed(0)
    a = off.objective(off._sample(0), update_stats=False)
    b = on.objective(on._sample(0), update_stats=False)
    assert float(a["cont_kl"]) == 0.0 and float(b["cont_kl"]) > 0.0
    assert float(b["edit_nll"]) == pytest.approx(float(a["edit_nll"]), rel=1e-5)
    assert float(b["loss"].detach()) == pytest.approx(float(a["loss"].detach()) + 2.0 * float(b["cont_kl"]), rel=1e-4)


def test_locality_groups_pick_one_probe_of_each_group(tiny_llama, tmp_path):
    model, tokenizer = tiny_llama
    records = {"counterfact": _grouped_records(16)}
    trainer = Trainer(_config(tmp_path, locality_groups=("neighbour", "same_subject")), model, tokenizer, records)
    ex = next(iter(trainer.train_ex.values()))[0]
    assert trainer.objective.locality_pairs(ex) == [ex.locality[1], ex.locality[2]]
    plain = Trainer(_config(tmp_path / "plain"), model, tokenizer, records)
    assert plain.objective.locality_pairs(ex) == [ex.locality[0]]
    trainer.fill_cache()
    trainer.warm_up_norms()
    stats = trainer.step()
    assert all(torch.isfinite(torch.tensor(v)) for v in stats.values())


def test_unknown_locality_group_is_refused_with_the_field(tmp_path):
    with pytest.raises(ValueError, match="locality_groups"):
        _config(tmp_path, locality_groups=("nearby",))


def test_the_sweep_report_rescores_degeneration_and_its_summary():
    """Old sweep results are re-scored from their stored texts: records and the summary agree."""
    from instructedit.evaluation.evaluate import rescored

    rows = [{"task": "recent", "record_id": i, "degenerate": 0, "post_text": text, "pre_text": " yen"}
            for i, text in enumerate([" euro euro euro", " euro, the currency of the EU", " Dorisisisisis"])]
    result, _ = rescored({"summary": {}, "records": rows}, {("recent", 0): "euro", ("recent", 1): "euro",
                                                           ("recent", 2): "Doris"})
    assert [r["degenerate"] for r in result["records"]] == [1, 0, 1]
    assert result["summary"]["recent"]["degenerate"]["mean"] == pytest.approx(2 / 3)


def test_plain_prompt_loss_runs_on_the_unwrapped_edit_prompt_and_counts_with_c_plain(tiny_llama, tmp_path):
    """c_plain adds the target's NLL on the edit prompt without its instruction, under the same edit."""
    model, tokenizer = tiny_llama
    records = {"counterfact": toy_records(20)}
    instruct = dict(editor=dict(edit_last_k=1, rank=16, mode="instruct", tasks=["counterfact"]))
    off = Trainer(_config(tmp_path / "off", **instruct), model, tokenizer, records)
    on = Trainer(_config(tmp_path / "on", c_plain=0.5, **instruct), model, tokenizer, records)
    ex = on._sample(0)[0]
    answer = [[t for t in labels if t != IGNORE] for labels in (ex.plain[1], ex.edit[1])]
    assert ex.plain != ex.edit and answer[0] == answer[1] and len(ex.plain[0]) < len(ex.edit[0])
    prompt_ids = [t for t, lab in zip(*ex.plain) if lab == IGNORE]
    assert tokenizer.decode(prompt_ids).strip() == ex.record.prompt.strip()
    assert on.objective.plain_pairs([ex]) == ([ex.plain], [0]) and off.objective.plain_pairs([ex]) == ([], [])
    for trainer in (off, on):
        trainer.fill_cache()
        trainer.warm_up_norms()
    a = off.objective(off._sample(0), update_stats=False)
    b = on.objective(on._sample(0), update_stats=False)
    assert float(a["plain_nll"]) == 0.0 and float(b["plain_nll"]) > 0.0
    assert float(b["edit_nll"]) == pytest.approx(float(a["edit_nll"]), rel=1e-5)
    assert float(b["loss"].detach()) == pytest.approx(float(a["loss"].detach()) + 0.5 * float(b["plain_nll"]), rel=1e-4)
    assert on.step()["plain_nll"] > 0


def test_plain_prompt_loss_needs_no_instruction_to_be_skipped(tiny_llama, tmp_path):
    """Editors that see no instruction have no separate plain prompt: c_plain adds nothing."""
    model, tokenizer = tiny_llama
    trainer = Trainer(_config(tmp_path, c_plain=1.0), model, tokenizer, {"counterfact": toy_records(20)})
    examples = trainer._sample(0)
    assert all(ex.plain is None for ex in examples) and trainer.objective.plain_pairs(examples) == ([], [])


def test_negative_loss_weight_is_refused_with_its_name(tmp_path):
    with pytest.raises(ValueError, match="c_plain must be >= 0"):
        _config(tmp_path, c_plain=-0.1)
