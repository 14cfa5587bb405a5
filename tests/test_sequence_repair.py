"""Loop repair along a sequence (`instructedit/editor/sequence_repair.py`) and `EditSequence.amend`: a kept edit
that later edits made loop is repaired on the edited model; the repair amends that edit, so the cumulative edit
gains it and undo of the edit removes both exactly."""
import math

import pytest
import torch
from test_sequence import ATOL, _composed, _examples, _logits, _mend, _sequence
from tiny_editors import tiny_editor
from toy import toy_records

from instructedit.data.records import EditRecord
from instructedit.editor import repair, sequence_repair
from instructedit.editor.forward import trunk
from instructedit.editor.guards import SequenceGuard
from instructedit.editor.sequence import EditSequence
from instructedit.editor.step_search import request_ids, targets_held
from instructedit.tokenize import collate

SCALES = (0.5, 1.0, 8.0, 64.0)


def _pick(sequence, where: str) -> int:
    name = sequence.cumulative().names[0]
    folded = [i for i in sequence.indices if sequence.is_folded(i, name)]
    tail = [i for i in sequence.indices if not sequence.is_folded(i, name)]
    return {"folded": folded[1] if len(folded) > 1 else None, "tail": tail[-1] if tail else None,
            "sealed": sequence.indices[2]}[where]


@pytest.mark.parametrize("where", ["folded", "tail", "sealed"])
def test_amend_adds_to_the_cumulative_edit_and_undo_removes_both(tiny_llama, where):
    model, tokenizer = tiny_llama
    options = {"undo_depth": 0} if where == "sealed" else {}
    sequence, batch = _sequence(model, tokenizer, _mend(model, tokenizer), n=10, **options)
    index = _pick(sequence, where)
    assert index is not None  # 10 toy edits: the first 9 folded, the last one in the tail
    extra = sequence.compute_next(_examples(tokenizer, toy_records(11))[10:]).merged()
    before = sequence.cumulative()
    sequence.amend(index, extra)
    after = _logits(model, batch, sequence.cumulative())
    assert torch.allclose(after, _logits(model, batch, _composed([before, extra])), atol=ATOL)
    assert (after - _logits(model, batch, before)).abs().max() > 1e-4  # the extra edit is visible
    if where == "sealed":
        with pytest.raises(ValueError, match="undo_depth"):
            sequence.undo(index)
        return
    others = [e.edit for e in sequence.entries if e.index != index]
    sequence.undo(index)
    assert torch.allclose(_logits(model, batch, sequence.cumulative()), _logits(model, batch, _composed(others)),
                          atol=ATOL)


def test_amend_refuses_an_edit_that_is_not_in_the_sequence(tiny_llama):
    model, tokenizer = tiny_llama
    sequence, _ = _sequence(model, tokenizer, _mend(model, tokenizer), n=2)
    extra = sequence.entries[0].edit
    with pytest.raises(KeyError, match="not in the sequence"):
        sequence.amend(7, extra)


def _held_sequence(model, tokenizer):
    """Three edits of a tiny editor whose step search makes some targets greedy, and their batch."""
    prompts, targets = ["The capital of France is", "Tokyo is in", "The sky is"], ["Rome", "Italy", "green"]
    editor = tiny_editor(model, tokenizer, jitter=0.05, warm_up=(prompts, targets))
    editor.eval()
    editor.config.step_scales = (1.0, 8.0, 64.0)
    records = [EditRecord(task="counterfact", prompt=p, target=t, record_id=str(i))
               for i, (p, t) in enumerate(zip(prompts, targets))]
    examples = _examples(tokenizer, records)
    sequence = EditSequence(model, editor, tokenizer.pad_token_id)
    for example in examples:
        sequence.edit_next([example])
    return sequence, collate([ex.edit for ex in examples], tokenizer.pad_token_id)


def _held(model, sequence, batch) -> list[bool]:
    start = sequence.editor.first_block
    return targets_held(model, batch, trunk(model, batch.input_ids, start), start,
                        sequence.cumulative().take([0] * len(batch))).tolist()


def test_looping_edits_are_repaired_and_hold_and_undo_takes_the_repair_too(tiny, monkeypatch):
    """Under a loop rule by which every kept edit loops now and no repaired one does, an edit is mended where a
    repair scale keeps its target greedy, and the others stay exactly as they were."""
    model, tokenizer = tiny
    sequence, batch = _held_sequence(model, tokenizer)
    monkeypatch.setattr(sequence_repair, "loops", lambda target, ids: True)
    monkeypatch.setattr(repair, "loops", lambda target, ids: False)
    before = sequence.cumulative()
    edits_before = {e.index: e.edit for e in sequence.entries}
    mended = sequence_repair.repair_kept_edits(sequence, tokens=4, scales=SCALES)
    assert mended and set(mended.values()) <= set(SCALES)
    held = _held(model, sequence, batch)
    assert all(held[sequence.indices.index(index)] for index in mended)
    for entry in sequence.entries:  # an edit not mended is unchanged, a mended one carries its repair
        same = all(torch.equal(entry.edit.factors[n].u, edits_before[entry.index].factors[n].u)
                   for n in entry.edit.names)
        assert same == (entry.index not in mended)
    assert (_logits(model, batch, sequence.cumulative()) - _logits(model, batch, before)).abs().max() > 1e-4
    index = next(iter(mended))
    sequence.undo(index)
    others = [e.edit for e in sequence.entries]
    assert torch.allclose(_logits(model, batch, sequence.cumulative()), _logits(model, batch, _composed(others)),
                          atol=ATOL)
    assert all(edits_before[e.index] is e.edit for e in sequence.entries if e.index not in mended)


def test_nothing_is_repaired_where_nothing_loops(tiny_llama, monkeypatch):
    model, tokenizer = tiny_llama
    sequence, batch = _sequence(model, tokenizer, _mend(model, tokenizer), n=3)
    monkeypatch.setattr(sequence_repair, "loops", lambda target, ids: False)
    before = _logits(model, batch, sequence.cumulative())
    assert sequence_repair.repair_kept_edits(sequence, tokens=4, scales=SCALES) == {}
    assert torch.equal(_logits(model, batch, sequence.cumulative()), before)


def test_the_looping_check_reads_the_continuation_under_the_cumulative_edit(tiny_llama):
    """`looping_edits` flags exactly the rows whose request + continuation under the cumulative edit loops."""
    from instructedit.editor.batched_generation import continue_ids
    from instructedit.editor.hooks import active_edit
    from instructedit.editor.step_search import CHECK_TOKENS, loops

    model, tokenizer = tiny_llama
    sequence, batch = _sequence(model, tokenizer, _mend(model, tokenizer), n=5)
    requests, targets = request_ids(batch)
    pad, current = tokenizer.pad_token_id, sequence.cumulative()
    with active_edit(model, current):
        continued = continue_ids(model, requests, pad, CHECK_TOKENS)
    want = [r for r in range(len(requests)) if loops(targets[r], continued[r])]
    assert sequence_repair.looping_edits(model, requests, targets, pad, current) == want


def test_a_guard_repairs_every_so_many_edits(tiny_llama, monkeypatch):
    model, tokenizer = tiny_llama
    calls = []
    monkeypatch.setattr(sequence_repair, "repair_kept_edits", lambda seq, *a, **k: calls.append(len(seq)) or {})
    sequence = EditSequence(model, _mend(model, tokenizer), tokenizer.pad_token_id, guard=SequenceGuard(repair_every=2))
    for example in _examples(tokenizer, toy_records(5)):
        sequence.edit_next([example])
    assert calls == [2, 4]
    assert [e.examples[0].record.record_id for e in sequence.entries] == [r.record_id for r in toy_records(5)]
    assert SequenceGuard(repair_every=2).describe()["repair_every"] == 2


@pytest.mark.parametrize("value", [-1, 1.5, True])
def test_repair_every_is_validated_by_name(value):
    with pytest.raises(ValueError, match="repair_every"):
        SequenceGuard(repair_every=value)



def _tries(sequence, monkeypatch, checks: int, schedule) -> list[list[int]]:
    """Per check of `checks` (every kept edit loops, no scale mends any): the edit indices it tried to repair."""
    tried = []
    real = sequence_repair._repairs

    def recording(seq, current, examples, *rest):
        tried[-1] = [int(ex.record.record_id) for ex in examples]
        return real(seq, current, examples, *rest)

    monkeypatch.setattr(sequence_repair, "loops", lambda target, ids: True)
    monkeypatch.setattr(repair, "loops", lambda target, ids: True)
    monkeypatch.setattr(sequence_repair, "_repairs", recording)
    for _ in range(checks):
        tried.append([])
        assert sequence_repair.repair_kept_edits(sequence, tokens=4, scales=SCALES, schedule=schedule) == {}
    return tried


def test_an_edit_no_scale_mends_sits_out_one_two_four_checks(tiny_llama, monkeypatch):
    """A failed repair is tried again after 1, 2, 4, ... checks (at checks 1, 3, 6, 11 of 12), not at every one;
    without a schedule every call tries every edit."""
    model, tokenizer = tiny_llama
    sequence, _ = _held_sequence(model, tokenizer)
    schedule = sequence_repair.RepairSchedule()
    tried = _tries(sequence, monkeypatch, 12, schedule)
    assert [c + 1 for c, rows in enumerate(tried) if rows] == [1, 3, 6, 11]
    assert all(rows in ([], [0, 1, 2]) for rows in tried)
    assert schedule.waits == {i: (11 + 8 + 1, 8) for i in range(3)}
    assert _tries(sequence, monkeypatch, 2, None) == [[0, 1, 2], [0, 1, 2]]


def test_the_base_models_words_are_computed_once_per_edit(tiny_llama, monkeypatch):
    """The words a repair teaches are the base model's continuation of the edit's request, continued once."""
    from instructedit.editor.batched_generation import continue_ids

    model, tokenizer = tiny_llama
    sequence, batch = _held_sequence(model, tokenizer)
    calls = []
    monkeypatch.setattr(sequence_repair, "continue_ids", lambda m, r, p, n, **k: calls.append(n) or continue_ids(
        m, r, p, n, **k))
    schedule = sequence_repair.RepairSchedule(waits={})
    _tries(sequence, monkeypatch, 3, schedule)
    check = sequence_repair.CHECK_TOKENS  # checks 1 and 3 look (at 2 every edit sits out); the base words once
    assert calls == [check, 4, check]
    requests, _ = request_ids(batch)
    assert [schedule.base_words[i] for i in range(3)] == continue_ids(model, requests, tokenizer.pad_token_id, 4)


def test_an_edit_the_base_model_ends_after_its_target_is_not_checked_again(tiny_llama, monkeypatch):
    """Where the base model says nothing after a request there are no words to teach: that looping edit leaves
    the checks (the others still wait 1, 2, ...); undo forgets it."""
    model, tokenizer = tiny_llama
    sequence, _ = _held_sequence(model, tokenizer)
    schedule = sequence_repair.RepairSchedule(base_words={1: []})  # edit 1: the base model ends at its target
    checked = []
    real = sequence_repair.looping_edits
    monkeypatch.setattr(sequence_repair, "looping_edits", lambda m, requests, *a: checked.append(len(requests))
                        or real(m, requests, *a))
    tried = _tries(sequence, monkeypatch, 4, schedule)
    assert tried == [[0, 2], [], [0, 2], []] and checked == [3, 2]
    assert schedule.waits[1] == (math.inf, 0) and schedule.waits[0] == (3 + 2 + 1, 2)
    sequence._repairs = schedule
    sequence.undo(1)
    assert 1 not in schedule.waits and 1 not in schedule.base_words


def test_a_mend_clears_the_wait_and_undo_forgets_the_edit(tiny, monkeypatch):
    model, tokenizer = tiny
    sequence, _ = _held_sequence(model, tokenizer)
    schedule = sequence._repairs
    _tries(sequence, monkeypatch, 1, schedule)  # every edit fails once: all wait
    schedule.checks += 1  # ... and sit out the next check
    monkeypatch.setattr(repair, "loops", lambda target, ids: False)  # now a scale mends where the target holds
    mended = sequence.repair_loops()
    assert mended and all(i not in schedule.waits for i in mended)
    assert set(schedule.waits) == {0, 1, 2} - set(mended)
    for index in list(sequence.indices):
        sequence.undo(index)
        assert index not in schedule.waits and index not in schedule.base_words
