"""The edit-time step-size search: each edit gets the smallest scale of its step under which its own request
holds (target greedy) and its continuation does not loop, checked here against the checks themselves."""
import pytest
import torch
from tiny_editors import tiny_editor

from instructedit.editor.batched_generation import continue_ids, prompt_token_ids
from instructedit.editor.editor import EditorConfig
from instructedit.editor.forward import trunk
from instructedit.editor.step_search import (
    RideAlong,
    _clean,
    request_ids as _requests,
    loops,
    targets_held,
    validate_scales,
)
from instructedit.tokenize import encode_batch

SCALES = (0.5, 1.0, 2.0, 8.0, 64.0)


@pytest.fixture()
def searched(tiny):
    model, tokenizer = tiny
    prompts, targets = ["The capital of France is", "Tokyo is in", "The sky is"], ["Rome", "Italy", "green"]
    editor = tiny_editor(model, tokenizer, jitter=0.05, warm_up=(prompts, targets))
    return model, editor, encode_batch(tokenizer, prompts, targets)


def test_scaled_multiplies_each_rows_update(searched):
    model, editor, batch = searched
    edit = editor.edit(model, batch).detach()
    x = torch.randn(3, 4, editor.shapes[editor.weight_names[0]][0])
    scaled = edit.scaled(torch.tensor([1.0, 2.0, 0.0]))
    base, out = edit.output_delta(editor.weight_names[0], x), scaled.output_delta(editor.weight_names[0], x)
    assert torch.allclose(out[0], base[0]) and torch.allclose(out[1], 2 * base[1], atol=1e-6)
    assert torch.equal(out[2], torch.zeros_like(out[2])) and base[2].abs().max() > 0


def test_each_edit_gets_the_smallest_scale_that_holds_cleanly(searched):
    model, editor, batch = searched
    plain = editor.edit(model, batch).detach()
    editor.config.step_scales = SCALES
    searched_edit = editor.edit(model, batch).detach()
    chosen = searched_edit.meta["step_scales"]
    assert len(chosen) == 3 and set(chosen) <= set(SCALES) | {1.0}
    state = trunk(model, batch.input_ids, editor.first_block)
    held = torch.stack([targets_held(model, batch, state, editor.first_block, plain.scaled(torch.full((3,), s)))
                        for s in SCALES])
    assert held[-1].any()  # a large enough step makes some request hold on the tiny model
    requests, targets = _requests(batch)
    for b, scale in enumerate(chosen):
        options = [s for s, ok in zip(SCALES, held[:, b].tolist()) if ok]
        clean = [s for s in options if _clean(model, plain, [b], [s], requests, targets)[0]]
        assert scale == (clean[0] if clean else options[0] if options else 1.0)
        x = torch.randn(2, editor.shapes[editor.weight_names[0]][0])  # the plain edit scaled by its choice
        want = scale * plain.select(b).output_delta(editor.weight_names[0], x)
        assert torch.allclose(searched_edit.select(b).output_delta(editor.weight_names[0], x), want, atol=1e-5)


def test_a_request_that_never_holds_gets_the_fallback(searched):
    model, editor, batch = searched
    editor.config.step_scales, editor.config.step_fallback = (1e-6,), 0.25
    assert editor.edit(model, batch).meta["step_scales"] == [0.25] * 3


def test_training_mode_uses_the_learned_step(searched):
    model, editor, batch = searched
    editor.config.step_scales = SCALES
    editor.train()
    trained = editor.edit(model, batch).detach()
    editor.eval()
    assert "step_scales" not in trained.meta and "step_scales" in editor.edit(model, batch).meta


def test_loops_are_repeated_targets_or_runs_of_ngrams():
    target = [5, 6]
    assert not loops(target, [7, 8, 5, 6, 9, 10, 11])            # "Rome. Rome is the capital": said twice
    assert loops(target, [7, 5, 6, 8, 5, 6])                      # the target three times
    assert loops(target, [9, 9, 9]) and loops(target, [7, 8, 7, 8, 7, 8])  # "industry industry industry", "P.P.P."
    assert loops([1], [2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4]) and not loops(target, [1, 2, 3, 4, 1, 2, 3])


def test_scales_are_validated_by_name():
    assert validate_scales([1, 2.5]) == (1.0, 2.5) and validate_scales(None) == ()
    with pytest.raises(ValueError, match="step_scales must be strictly ascending"):
        EditorConfig(step_scales=(2.0, 1.0))
    with pytest.raises(ValueError, match="step_scales must all be > 0"):
        EditorConfig(step_scales=(0.0, 1.0))
    with pytest.raises(ValueError, match="step_fallback must be > 0"):
        EditorConfig(step_fallback=0)


def test_ride_along_rows_are_continued_under_the_step_each_edit_settles_on(searched, tiny):
    """Prompts carried by the search's first check generation come back continued under their owner's chosen
    step (the same ids as generating them afterwards under the searched edit), unedited rows as the base model
    says them, and None where the owner's step moved past the first scale checked."""
    model, editor, batch = searched
    _, tokenizer = tiny
    editor.config.step_scales = SCALES
    prompts = ["The capital of France is", "Tokyo is in", "The sky is", "Water is"]
    ids = prompt_token_ids(tokenizer, prompts)
    ride = RideAlong(ids, [0, 1, 2, None], [6, 6, 4, 5])
    searched_edit = editor.edit(model, batch, ride=ride).detach()
    chosen = searched_edit.meta["step_scales"]
    plain = editor.edit(model, batch, search=False).detach()
    state = trunk(model, batch.input_ids, editor.first_block)
    first = []
    for b in range(3):
        held = [s for s in SCALES if targets_held(model, batch, state, editor.first_block,
                                                  plain.scaled(torch.full((3,), s)))[b]]
        first.append(held[0] if held else editor.config.step_fallback)
    pad = tokenizer.pad_token_id
    for b in range(3):
        want = continue_ids(model, [ids[b]], pad, ride.budgets[b], edit=searched_edit.select(b))[0]
        assert ride.continued[b] == (want if chosen[b] == first[b] else None), (b, chosen, first)
    assert ride.continued[3] == continue_ids(model, [ids[3]], pad, 5)[0]
    assert any(c is not None for c in ride.continued[:3])


def test_a_ride_along_needs_one_owner_and_budget_per_prompt():
    with pytest.raises(ValueError, match="2 prompts, 1 owners"):
        RideAlong([[1], [2]], [None], [3, 3])


def test_with_settings_is_a_view_with_other_edit_time_settings(tiny_llama):
    """`Editor.with_settings` changes the step search of a view only; it shares the networks, refuses settings that
    need retraining, and validates like the config."""
    model, tokenizer = tiny_llama
    editor = tiny_editor(model, tokenizer, jitter=0.05)
    view = editor.with_settings(step_scales=(0.5, 2.0))
    assert view.config.step_scales == (0.5, 2.0) and editor.config.step_scales == ()
    assert view.networks is editor.networks and view.alphas is editor.alphas
    with pytest.raises(ValueError, match="not edit-time settings: \\['rank'\\]"):
        editor.with_settings(rank=4)
    with pytest.raises(ValueError, match="repair_tokens needs step_scales"):
        editor.with_settings(repair_tokens=8)
