"""Sequential editing (issue #14): the cumulative edit is exact, undo is exact, edit k sees edits 1..k-1."""
from __future__ import annotations

import copy
import json
import random

import pytest
import torch
from tiny_editors import tiny_editor
from toy import toy_records

from instructedit.baselines import FineTuneConfig, FineTuneEditor, NoEditEditor
from instructedit.data.records import EditRecord, Probe
from instructedit.editor.edit import Edit
from instructedit.editor.sequence import EditSequence
from instructedit.evaluation.answers import starts_with_answer
from instructedit.evaluation.degeneration import is_degenerate
from instructedit.evaluation.sequential import evaluate_sequence, retention_scores
from instructedit.instructions import Instruction
from instructedit.prompts import build_example
from instructedit.tokenize import collate

ATOL = 1e-5
# single-token keys of the tiny tokenizer: each record's prompt ends on its own token
KEYS = ("Danielle", "Eiffel", "France", "Germany", "Pogacar", "Shakespeare", "Tadej", "Tower", "William", "capital",
        "fact", "hamlet", "hate", "jazz", "love", "mother", "race", "tongue", "winner", "wrote")
TARGETS = ("Paris", "Rome", "Berlin", "London", "Tokyo", "Italy", "Japan", "England")


def _examples(tokenizer, records):
    return [build_example(r, tokenizer, Instruction()) for r in records]


def _mend(model, tokenizer):
    """A tiny MEND editor whose edits are visible and stay finite over a few sequential edits."""
    warm = toy_records(40, seed=1)
    return tiny_editor(model, tokenizer, jitter=0.05, alpha=-0.005,
                       warm_up=(tuple(r.prompt for r in warm), tuple(r.target for r in warm)))


def _editor(kind, model, tokenizer):
    if kind == "mend":
        return _mend(model, tokenizer)
    if kind == "ft-l":
        return FineTuneEditor(model, FineTuneConfig(edit_last_k=1, steps=2, lr=1e-2, norm_constraint=5e-3))
    return NoEditEditor(model, edit_last_k=1)


@torch.no_grad()
def _logits(model, batch, edit: Edit | None):
    if edit is None:
        return model(batch.input_ids).logits
    with edit.applied(model):
        return model(batch.input_ids).logits


def _composed(edits: list[Edit]) -> Edit:
    total = edits[0]
    for edit in edits[1:]:
        total = total.compose(edit)
    return total


def _sequence(model, tokenizer, editor, n=6, **options):
    sequence = EditSequence(model, editor, tokenizer.pad_token_id, **options)
    examples = _examples(tokenizer, toy_records(n))
    for example in examples:
        sequence.edit_next([example])
    return sequence, collate([ex.edit for ex in examples], tokenizer.pad_token_id)


@pytest.mark.parametrize("kind", ["mend", "ft-l", "no-edit"])
def test_cumulative_equals_the_edits_applied_one_after_another(tiny, kind):
    model, tokenizer = tiny
    sequence, batch = _sequence(model, tokenizer, _editor(kind, model, tokenizer), n=10)
    edits = [e.edit for e in sequence.entries]
    cumulative = _logits(model, batch, sequence.cumulative())
    assert torch.allclose(cumulative, _logits(model, batch, _composed(edits)), atol=ATOL)
    in_place = copy.deepcopy(model)
    for edit in edits:
        edit.apply_(in_place)
    assert torch.allclose(cumulative, _logits(in_place, batch, None), atol=ATOL)
    moved = (cumulative - _logits(model, batch, None)).abs().max()
    assert (moved == 0) if kind == "no-edit" else (moved > 1e-3)
    if kind != "no-edit":  # 64-wide tiny weights fold past 64 rows (about 8 toy MEND edits)
        assert all(sequence.folded_count(n) > 0 for n in sequence.cumulative().names)


def test_folding_is_exact_and_bounds_the_rank(tiny_llama):
    model, tokenizer = tiny_llama
    editor = _mend(model, tokenizer)
    folded, batch = _sequence(model, tokenizer, editor, n=10)
    unfolded = EditSequence(model, editor, tokenizer.pad_token_id, fold_fraction=None)
    for entry in folded.entries:
        unfolded.add(entry.edit)
    assert all(unfolded.folded_count(n) == 0 for n in unfolded.cumulative().names)
    assert torch.allclose(_logits(model, batch, folded.cumulative()), _logits(model, batch, unfolded.cumulative()),
                          atol=ATOL)
    for name, factor in folded.cumulative().factors.items():  # M's min(in, out) rows + at most a quarter more
        small = min(factor.u.shape[-1], factor.d.shape[-1])
        assert folded.folded_count(name) > 0 and factor.u.shape[1] <= small + small // 4
        assert factor.u.shape[1] < unfolded.cumulative().factors[name].u.shape[1]


@pytest.mark.parametrize("where", ["folded", "tail"])
def test_undo_restores_exactly_the_state_without_the_edit(tiny_llama, where):
    model, tokenizer = tiny_llama
    sequence, batch = _sequence(model, tokenizer, _mend(model, tokenizer), n=10)
    name = sequence.cumulative().names[0]
    folded = [i for i in sequence.indices if sequence.is_folded(i, name)]
    tail = [i for i in sequence.indices if not sequence.is_folded(i, name)]
    assert folded and tail  # 10 toy edits: the first 9 folded (past 64 rows), the last one not
    was_folded = sequence.folded_count(name)
    sequence.undo(folded[1] if where == "folded" else tail[-1])
    assert sequence.folded_count(name) == was_folded - (where == "folded")
    rebuilt = EditSequence(model, sequence.editor, tokenizer.pad_token_id)
    for entry in sequence.entries:
        rebuilt.add(entry.edit)
    after = _logits(model, batch, sequence.cumulative())
    assert torch.allclose(after, _logits(model, batch, rebuilt.cumulative()), atol=ATOL)
    assert torch.allclose(after, _logits(model, batch, _composed([e.edit for e in sequence.entries])), atol=ATOL)


def test_indices_are_stable_and_undo_last_and_reset(tiny_llama):
    model, tokenizer = tiny_llama
    sequence, _ = _sequence(model, tokenizer, _mend(model, tokenizer), n=4)
    assert sequence.indices == [0, 1, 2, 3] and len(sequence) == 4
    sequence.undo(1)
    assert sequence.indices == [0, 2, 3]
    assert sequence.add(sequence.entry(2).edit, label="again") == 4 and sequence.entry(4).label == "again"
    sequence.undo_last()
    assert sequence.indices == [0, 2, 3]
    with pytest.raises(KeyError, match="not in the sequence"):
        sequence.undo(1)
    with pytest.raises(ValueError, match="B = 1"):
        sequence.add(Edit({n: type(f)(f.u.repeat(2, 1, 1), f.d.repeat(2, 1, 1), f.alpha)
                           for n, f in sequence.entry(0).edit.factors.items()}))
    factor = sequence.entry(0).edit.factors[sequence.editor.weight_names[0]]
    with pytest.raises(ValueError, match="does not have"):
        sequence.add(Edit({"lm_head.nope.weight": factor}))
    with pytest.raises(ValueError, match="the model's weight is"):
        sequence.add(Edit({sequence.editor.weight_names[0]: type(factor)(factor.u[..., :8], factor.d, factor.alpha)}))
    for _ in range(3):
        sequence.undo_last()
    assert sequence.cumulative() is None and sequence.indices == []
    with pytest.raises(IndexError):
        sequence.undo_last()
    sequence.edit_next(_examples(tokenizer, toy_records(2)))  # two records merged into one batch edit
    assert sequence.indices == [5] and sequence.entry(5).label == "0,1"
    sequence.reset()
    assert len(sequence) == 0 and sequence.cumulative() is None


@pytest.mark.parametrize("kind", ["mend", "ft-l"])
def test_the_base_model_is_untouched(tiny_llama, kind):
    model, tokenizer = tiny_llama
    before = {k: v.clone() for k, v in model.state_dict().items()}
    sequence, _ = _sequence(model, tokenizer, _editor(kind, model, tokenizer), n=4)
    sequence.undo(1)
    sequence.undo_last()
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def test_edit_k_is_computed_on_the_edited_model(tiny_llama):
    model, tokenizer = tiny_llama
    first, second = _examples(tokenizer, toy_records(2))
    editor = _mend(model, tokenizer)
    sequence = EditSequence(model, editor, tokenizer.pad_token_id)
    from_base = sequence.compute_next([second])
    previous = sequence.add(sequence.compute_next([first]).merged())
    on_edited = sequence.compute_next([second])
    name = editor.weight_names[-1]
    assert not torch.allclose(on_edited.factors[name].u, from_base.factors[name].u, atol=1e-4)
    with torch.no_grad(), sequence.entry(previous).edit.applied(model):
        reference = editor.edit(model, collate([second.edit], tokenizer.pad_token_id))
    assert torch.allclose(on_edited.factors[name].u, reference.factors[name].u, atol=1e-6)
    assert torch.allclose(on_edited.factors[name].d, reference.factors[name].d, atol=1e-6)


def test_ftl_edit_k_is_fitted_on_the_edited_model(tiny_llama):
    model, tokenizer = tiny_llama
    first, second = _examples(tokenizer, toy_records(2))
    sequence = EditSequence(model, _editor("ft-l", model, tokenizer), tokenizer.pad_token_id)
    name = sequence.editor.weight_names[0]
    from_base = [sequence.compute_next([second]).factors[name].d for _ in range(2)]
    assert torch.equal(*from_base)  # FT-L is deterministic: a difference below comes from the first edit
    sequence.edit_next([first])
    assert not torch.allclose(sequence.compute_next([second]).factors[name].d, from_base[0], atol=1e-6)


def test_lifelong_stats_update_a_copy_of_the_normalisers(tiny_llama):
    model, tokenizer = tiny_llama
    editor = _mend(model, tokenizer)
    frozen = {k: v.clone() for k, v in editor.state_dict().items()}
    lifelong, _ = _sequence(model, tokenizer, editor, n=3, lifelong_stats=True)
    plain, _ = _sequence(model, tokenizer, editor, n=3)
    assert all(torch.equal(frozen[k], v) for k, v in editor.state_dict().items())
    own = lifelong._own_norms.norms
    assert all(own[k].count > editor.norms[k].count for k in editor.norms)
    name = editor.weight_names[0]
    assert not torch.allclose(lifelong.entry(2).edit.factors[name].u, plain.entry(2).edit.factors[name].u)
    lifelong.reset()
    assert all(torch.equal(lifelong._own_norms.norms[k].count, editor.norms[k].count) for k in editor.norms)


def test_undo_depth_seals_older_edits_and_drops_their_factors(tiny_llama):
    model, tokenizer = tiny_llama
    editor = _mend(model, tokenizer)
    everything, batch = _sequence(model, tokenizer, editor, n=6)
    recent = EditSequence(model, editor, tokenizer.pad_token_id, undo_depth=2)
    for entry in everything.entries:
        recent.add(entry.edit)
    assert [recent.undoable(i) for i in recent.indices] == [False] * 4 + [True] * 2
    assert all(recent.entry(i).edit is None for i in recent.indices[:4])
    kept = sum(recent.entry(i).edit.nbytes() for i in recent.indices[4:])
    dense = sum(f.u.shape[-1] * f.d.shape[-1] * 8 for f in recent.cumulative().factors.values())  # float64 M
    assert recent.nbytes() == kept + dense
    assert torch.allclose(_logits(model, batch, recent.cumulative()), _logits(model, batch, everything.cumulative()),
                          atol=ATOL)
    with pytest.raises(ValueError, match="undo_depth"):
        recent.undo(0)
    recent.undo(5)
    everything.undo(5)
    assert torch.allclose(_logits(model, batch, recent.cumulative()), _logits(model, batch, everything.cumulative()),
                          atol=ATOL)


def _keyed_records(n: int, seed: int = 0) -> list[EditRecord]:
    rng = random.Random(seed)
    return [EditRecord(task="counterfact", prompt=f"{key}", target=rng.choice(TARGETS),
                       record_id=str(i), rephrases=(f"is {key}",),
                       locality=(Probe(f"What do you think of {rng.choice(KEYS)}", "I"),))
            for i, key in enumerate(KEYS[:n])]


RETENTION_FLOOR = 0.5


def test_ftl_sequence_keeps_earlier_edits_above_a_floor(tiny_llama):
    """20 sequential FT-L edits of a random tiny model: the share of the 20 targets still predicted under
    the cumulative edit is >= RETENTION_FLOOR.

    Why 0.5: every edit succeeds when it is made (checked), so what the floor measures is forgetting.
    Each prompt is a single token of its own, so the edits' layer inputs are nearly orthogonal and later
    edits overwrite earlier ones only partly: 0.8 for these records, 0.65-0.8 over record seeds 0-3. A model
    that answers every prompt with one word reaches only the most common target's share (<= 0.3 here),
    which the test also checks, so 0.5 means that many edits are held at once, with three flips of room."""
    model, tokenizer = tiny_llama
    records = _keyed_records(20)
    examples = _examples(tokenizer, records)
    editor = FineTuneEditor(model, FineTuneConfig(edit_last_k=1, steps=3, lr=1e-2, norm_constraint=5e-3))
    sequence = EditSequence(model, editor, tokenizer.pad_token_id)
    pad, start = tokenizer.pad_token_id, editor.first_block
    at_edit = []
    for example in examples:
        sequence.edit_next([example])
        at_edit.append(retention_scores(model, [example], sequence.cumulative(), pad, start)[0]["reliability"])
    held = [r["reliability"] for r in retention_scores(model, examples, sequence.cumulative(), pad, start)]
    most_common = max(sum(r.target == t for r in records) for t in TARGETS) / len(records)
    assert sum(at_edit) / len(at_edit) >= 0.9, at_edit
    assert most_common <= 0.3 < RETENTION_FLOOR <= sum(held) / len(held), held


def test_evaluate_sequence_returns_well_formed_checkpoints(tiny_llama):
    model, tokenizer = tiny_llama
    records = toy_records(5)
    result = evaluate_sequence(model, tokenizer, _mend(model, tokenizer), records, checkpoints=(1, 3, 50),
                               instruction="seen", seed=0, batch_size=2, generation=True)
    json.dumps(result)
    assert [c["T"] for c in result["checkpoints"]] == [1, 3]
    assert len(result["order"]) == 3 and set(result["order"]) <= {r.record_id for r in records}
    assert result["locality_probes"] == len({(p.prompt, p.answer) for r in records for p in r.locality})
    for checkpoint in result["checkpoints"]:
        assert len(checkpoint["records"]) == checkpoint["T"]
        assert [r["record_id"] for r in checkpoint["records"]] == result["order"][:checkpoint["T"]]
        assert len(checkpoint["locality"]) == result["locality_probes"]
        summary = checkpoint["summary"]
        for key in ("reliability", "generalization", "locality", "gen_reliability", "gen_locality"):
            assert 0.0 <= summary[key] <= 1.0, key
        assert len(checkpoint["gen_locality"]) == result["locality_probes"]
        assert summary["portability"] is None and checkpoint["edit_seconds"] >= 0
        targets = {r.record_id: r.target for r in records}
        for row in checkpoint["records"]:  # degeneration is the single-edit rule, read against the base text
            assert row["degenerate"] == is_degenerate(row["post_text"], (targets[row["record_id"]],), row["pre_text"])
            assert row["gen_reliability"] == starts_with_answer(row["post_text"], (targets[row["record_id"]],))
        assert summary["degenerate"] == sum(r["degenerate"] for r in checkpoint["records"]) / checkpoint["T"]
    first, last = (c["records"][0] for c in result["checkpoints"])
    assert first["pre_text"] == last["pre_text"]  # the base continuation, made once per record
    again = evaluate_sequence(model, tokenizer, _mend(model, tokenizer), records, checkpoints=(3,), seed=0)
    assert again["order"] == result["order"]
    assert again["checkpoints"][0]["summary"]["reliability"] == result["checkpoints"][1]["summary"]["reliability"]


def test_evaluate_sequence_without_edits_keeps_locality(tiny_llama):
    model, tokenizer = tiny_llama
    probes = [Probe("Tokyo is in", "Japan"), Probe("The capital of France is", "Paris")]
    result = evaluate_sequence(model, tokenizer, NoEditEditor(model, edit_last_k=1), toy_records(4),
                               checkpoints=(2, 4), locality_probes=probes, seed=3, generation=True)
    assert result["instruction"] == "none" and result["locality_probes"] == 2
    assert all(c["locality"] == [1.0, 1.0] and c["gen_locality"] == [1.0, 1.0] for c in result["checkpoints"])
    rows = [row for c in result["checkpoints"] for row in c["records"]]
    assert all(row["post_text"] == row["pre_text"] and row["fluency_ratio"] in (1.0, None) for row in rows)
    with pytest.raises(ValueError, match="checkpoints"):
        evaluate_sequence(model, tokenizer, NoEditEditor(model, edit_last_k=1), toy_records(2), checkpoints=(0,))


def test_a_guard_caps_every_edit_of_a_sequence_and_is_reported(tiny_llama):
    """EditSequence applies its guard to each new edit: no weight's update exceeds max_norm, the unguarded
    sequence's first edit does, and evaluate_sequence records the guard it ran with."""
    from instructedit.editor.guards import SequenceGuard, update_norm

    model, tokenizer = tiny_llama
    examples = _examples(tokenizer, toy_records(3))
    free = EditSequence(model, _mend(model, tokenizer), tokenizer.pad_token_id)
    free.edit_next(examples[:1])
    largest = max(float(update_norm(f)[0]) for f in free.entries[0].edit.factors.values())
    guard = SequenceGuard(max_norm=largest / 2)
    capped = EditSequence(model, _mend(model, tokenizer), tokenizer.pad_token_id, guard=guard)
    for example in examples:
        capped.edit_next([example])
    for entry in capped.entries:
        assert max(float(update_norm(f)[0]) for f in entry.edit.factors.values()) <= largest / 2 * (1 + 1e-5)
    result = evaluate_sequence(model, tokenizer, _mend(model, tokenizer), toy_records(3), checkpoints=(2,), guard=guard)
    assert result["guard"] == {"scale": 1.0, "max_norm": largest / 2, "projection": None}


def test_drawn_instructions_give_each_record_its_own_seen_instruction(tiny_llama):
    """`instruction="drawn"`: each record wrapped in the seen instruction its identity draws (as training draws it),
    so a sequence's edits vary as an app session's do; an editor that reads no instruction still gets none."""
    from instructedit.evaluation.sequential import DRAWN, _examples
    from instructedit.instructions import describe
    from instructedit.prompts import training_instruction

    model, tokenizer = tiny_llama
    editor = _mend(model, tokenizer)
    records = toy_records(12)
    for seed in (0, 1):
        examples = _examples(editor, records, tokenizer, DRAWN, None, seed)
        assert [ex.description for ex in examples] == [describe(r.task, training_instruction(r, seed)) for r in records]
    assert len({ex.description for ex in examples}) > 3  # they do vary
    assert all(ex.description is None for ex in _examples(NoEditEditor(model, edit_last_k=1), records, tokenizer,
                                                          DRAWN, None))
    result = evaluate_sequence(model, tokenizer, editor, records[:2], checkpoints=(2,), instruction=DRAWN)
    assert editor.uses_instructions and result["instruction"] == DRAWN
