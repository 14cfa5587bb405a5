"""Loop repair at edit time (`instructedit/editor/repair.py`): a row the step search held but could not make
clean gets the repair at the smallest scale under which it holds and does not loop, checked here against the
checks themselves; every other row is left exactly as it was."""
import pytest
import torch
from tiny_editors import tiny_editor

from instructedit.editor import repair
from instructedit.editor.editor import EditorConfig
from instructedit.editor.forward import trunk
from instructedit.editor.step_search import loops, request_ids, targets_held
from instructedit.editor.batched_generation import continue_ids
from instructedit.tokenize import encode_batch

SCALES = (0.5, 1.0, 4.0, 16.0, 64.0)


@pytest.fixture()
def setup(tiny):
    model, tokenizer = tiny
    prompts, targets = ["The capital of France is", "Tokyo is in", "The sky is"], ["Rome", "Italy", "green"]
    editor = tiny_editor(model, tokenizer, jitter=0.05, warm_up=(prompts, targets))
    editor.eval()
    batch = encode_batch(tokenizer, prompts, targets)
    editor.config.step_scales = (1.0, 8.0, 64.0)  # the search makes some request hold on the tiny models
    edit = editor.edit(model, batch).detach()
    editor.config.step_scales = ()
    assert any(outcome is not None for outcome in edit.meta["step_clean"])
    return model, tokenizer, editor, batch, edit


def _delta(edit, editor, row, x):
    return edit.select(row).output_delta(editor.weight_names[0], x)


def test_with_rows_adds_the_extra_rows_scaled(setup):
    model, _, editor, _, edit = setup
    extra = edit.take([2, 0])
    out = repair.with_rows(edit, extra, [0, 1], [0.5, 2.0])
    x = torch.randn(2, editor.shapes[editor.weight_names[0]][0])
    assert torch.allclose(_delta(out, editor, 0, x), _delta(edit, editor, 0, x) + 0.5 * _delta(edit, editor, 2, x), atol=1e-5)
    assert torch.allclose(_delta(out, editor, 1, x), _delta(edit, editor, 1, x) + 2.0 * _delta(edit, editor, 0, x), atol=1e-5)
    assert torch.allclose(_delta(out, editor, 2, x), _delta(edit, editor, 2, x), atol=1e-6)


def test_rows_that_held_cleanly_or_never_held_are_left_alone(setup):
    model, tokenizer, editor, batch, edit = setup
    edit.meta["step_clean"] = [True, None, True]
    out = repair.repair_loops(editor, model, batch, edit, 8, SCALES, tokenizer.pad_token_id)
    assert out.meta["repair_scales"] == [0.0, 0.0, 0.0]
    x = torch.randn(2, editor.shapes[editor.weight_names[0]][0])
    for row in range(3):
        assert torch.equal(_delta(out, editor, row, x), _delta(edit, editor, row, x))


@pytest.mark.parametrize("judge", ["real", "nothing loops"])
def test_a_looping_row_gets_the_smallest_repair_scale_that_holds_cleanly(setup, judge, monkeypatch):
    """With the real loop rule (a random tiny model loops whatever it is given, so rows may stay as they
    were), and with a rule under which nothing loops (then the smallest scale that keeps the target greedy
    must be taken, and some row is repaired)."""
    model, tokenizer, editor, batch, edit = setup
    judge_loops = loops if judge == "real" else (lambda target, ids: False)
    monkeypatch.setattr(repair, "loops", judge_loops)
    pad = tokenizer.pad_token_id
    edit.meta["step_clean"] = [None if outcome is None else False for outcome in edit.meta["step_clean"]]
    out = repair.repair_loops(editor, model, batch, edit, 8, SCALES, pad)
    requests, targets = request_ids(batch)
    continued = continue_ids(model, requests, pad, 8)
    fix = repair.repair_edit(editor, model, edit, requests, continued, pad)
    state = trunk(model, batch.input_ids, editor.first_block)
    x = torch.randn(2, editor.shapes[editor.weight_names[0]][0])
    for row, chosen in enumerate(out.meta["repair_scales"]):
        clean = []
        if edit.meta["step_clean"][row] is None:  # never held: not repaired
            assert chosen == 0.0
            continue
        for s in SCALES:
            combined = repair.with_rows(edit, fix, [0, 1, 2], [s] * 3)
            if targets_held(model, batch, state, editor.first_block, combined)[row]:
                ids = continue_ids(model, [requests[row]], pad, 20, edit=combined.take([row]), owner=[0], stack=True)[0]
                if not judge_loops(targets[row], ids):
                    clean.append(s)
        assert chosen == (clean[0] if clean else 0.0)
        want = _delta(edit, editor, row, x) + chosen * _delta(fix, editor, row, x)
        assert torch.allclose(_delta(out, editor, row, x), want, atol=1e-4)
    if judge != "real":
        assert any(out.meta["repair_scales"])


def test_editor_edit_runs_the_repair_after_the_search(setup):
    model, _, editor, batch, _ = setup
    editor.config.step_scales, editor.config.repair_tokens = (1.0, 8.0), 8
    edit = editor.edit(model, batch)
    assert len(edit.meta["repair_scales"]) == 3 and len(edit.meta["step_clean"]) == 3
    editor.config.repair_tokens = 0
    assert "repair_scales" not in editor.edit(model, batch).meta


@pytest.mark.parametrize("settings, field", [(dict(repair_tokens=-1, step_scales=(1.0,)), "repair_tokens"),
                                             (dict(repair_tokens=8), "step_scales"),
                                             (dict(repair_tokens=8, step_scales=(1.0,), repair_scales=(2.0, 1.0)),
                                              "repair_scales"),
                                             (dict(repair_tokens=8, step_scales=(1.0,), repair_scales=()),
                                              "repair_scales")])
def test_repair_settings_are_validated_by_name(settings, field):
    with pytest.raises(ValueError, match=field):
        EditorConfig(**settings)


def test_an_editor_with_a_key_projection_projects_every_edit_and_every_repair(setup, monkeypatch):
    """`Editor.projection` (the step sweep's `keys` variants): the edit's rows and the repair's rows lie off
    the preserved keys' subspace, so inputs inside it are not changed by either."""
    from instructedit.editor.guards import KeyProjection

    model, tokenizer, editor, batch, _ = setup
    g = torch.Generator().manual_seed(0)
    bases = {n: torch.linalg.qr(torch.randn(editor.shapes[n][0], 2, generator=g, dtype=torch.float64))[0]
             for n in editor.weight_names}
    editor.projection = KeyProjection(bases, max_scale=1.0)
    repairs = []
    made = repair.repair_edit
    monkeypatch.setattr(repair, "repair_edit", lambda *a: repairs.append(made(*a)) or repairs[-1])
    editor.config.step_scales, editor.config.repair_tokens = (1.0, 8.0, 64.0), 4
    edit = editor.edit(model, batch).detach()
    assert edit.meta["step_scales"]
    assert repairs  # the tiny models loop at some held step, so some row is repaired
    for projected in [edit] + repairs:
        for n, f in projected.factors.items():
            keys = bases[n].T.to(f.u.dtype).expand(f.u.shape[0], -1, -1)  # the preserved directions as inputs
            assert projected.output_delta(n, keys).abs().max() < 1e-4, n
            assert projected.output_delta(n, torch.randn_like(keys)).abs().max() > 1e-3, n


def test_repair_stop_needs_the_repair():
    with pytest.raises(ValueError, match="repair_stop"):
        EditorConfig(step_scales=(1.0,), repair_stop=True)


def test_the_stop_repair_ends_the_text_after_the_target_where_the_base_words_do_not_mend(setup, monkeypatch):
    """Under a loop rule that only a continuation ending at once passes: the rows the base model's words do not
    mend (and only those) are repaired again towards the end-of-text token; a row that repair mends holds its
    target and continues its request with that token first under the repaired edit; a row never held is left
    alone. Without `stop` there is no second repair."""
    model, tokenizer, editor, batch, edit = setup
    eos = repair.stop_ids(model)
    assert eos, "the tiny model's generation config names an end-of-text token"
    monkeypatch.setattr(repair, "loops", lambda target, ids: ids[:1] != eos)
    calls = []
    repair_rows = repair._repair_rows
    monkeypatch.setattr(repair, "_repair_rows", lambda *a: calls.append((a[4], a[7])) or repair_rows(*a))
    pad = tokenizer.pad_token_id
    edit.meta["step_clean"] = [None if outcome is None else False for outcome in edit.meta["step_clean"]]
    scales = SCALES + (256.0, 1024.0)  # the untrained tiny editor's steps are small
    plain = repair.repair_loops(editor, model, batch, edit, 8, scales, pad)
    assert plain.meta["repair_stopped"] == [] and len(calls) <= 1
    calls.clear()
    out = repair.repair_loops(editor, model, batch, edit, 8, scales, pad, stop=True)
    looping = [row for row, outcome in enumerate(edit.meta["step_clean"]) if outcome is False]
    mended_first = [row for row in looping if plain.meta["repair_scales"][row]]
    left = [row for row in looping if row not in mended_first]
    assert [rows for rows, _ in calls][-1:] == ([left] if left else [mended_first])
    if left:
        assert calls[-1][1] == [eos] * len(left)
    assert set(out.meta["repair_stopped"]) <= set(left)
    requests, _ = request_ids(batch)
    held = targets_held(model, batch, trunk(model, batch.input_ids, editor.first_block), editor.first_block, out)
    for row in out.meta["repair_stopped"]:
        assert out.meta["repair_scales"][row] in scales and held[row]
        ids = continue_ids(model, [requests[row]], pad, 4, edit=out.take([row]), owner=[0], stack=True)[0]
        assert ids[:1] == eos
    for row in mended_first:
        assert out.meta["repair_scales"][row] == plain.meta["repair_scales"][row]
    for row, outcome in enumerate(edit.meta["step_clean"]):
        if outcome is None:
            assert out.meta["repair_scales"][row] == 0.0
