import pytest
import torch

from instructedit.editor.edit import Edit
from instructedit.editor.editor import Editor, EditorConfig
from instructedit.models import families
from instructedit.tokenize import IGNORE, encode_batch, encode_pair
from tiny_editors import tiny_editor


@pytest.fixture()
def editor_and_batch(tiny):
    model, tokenizer = tiny
    prompts, targets = ["The capital of France is", "Tokyo is in"], ["Rome", "Italy"]
    editor = tiny_editor(model, tokenizer, jitter=0.05, warm_up=(prompts, targets))  # a non-trivial network
    return model, tokenizer, editor, encode_batch(tokenizer, prompts, targets)


def test_labels_from_joint_tokenisation(tiny):
    _, tokenizer = tiny
    ids, labels = encode_pair(tokenizer, "The capital of France is", "Paris")
    target_ids = [t for t, lab in zip(ids, labels) if lab != IGNORE]
    assert tokenizer.decode(target_ids) == " Paris"
    assert tokenizer.decode([t for t, lab in zip(ids, labels) if lab == IGNORE]) == "The capital of France is"


def test_token_cap_names_the_field(tiny):
    with pytest.raises(ValueError, match="prompt with its target is .* tokens; the limit is 8"):
        encode_pair(tiny[1], "word " * 40, "Paris", max_tokens=8)


def test_hooks_capture_u_and_delta_shapes(editor_and_batch):
    model, _, editor, batch = editor_and_batch
    inputs, grads, loss = editor.capture_grads(model, batch)
    B, T = batch.input_ids.shape
    for name in editor.weight_names:
        i, o = editor.shapes[name]
        assert inputs[name].shape == (B, T, i) and grads[name].shape == (B, T, o)
        # no gradient flows from positions after the last predicting one
        assert torch.all(grads[name][~batch.edit_rows] == 0)
    assert loss > 0


def test_functional_equals_in_place_and_revert_is_bit_exact(editor_and_batch):
    model, _, editor, batch = editor_and_batch
    edit = editor.edit(model, batch).detach().select(0)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    base = model(batch.input_ids).logits
    with edit.applied(model):
        functional = model(batch.input_ids).logits
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters())  # functional path: untouched
    originals = edit.apply_(model)
    in_place = model(batch.input_ids).logits
    Edit.revert_(model, originals)
    assert torch.allclose(functional, in_place, atol=1e-5)
    assert (functional - base).abs().max() > 1e-4
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters())


def test_batched_edit_rows_are_independent(editor_and_batch):
    model, _, editor, batch = editor_and_batch
    edit = editor.edit(model, batch).detach()
    with edit.applied(model):
        together = model(batch.input_ids).logits
    for i in range(len(batch)):
        with edit.select(i).applied(model):
            alone = model(batch.input_ids[i:i + 1]).logits
        assert torch.allclose(together[i], alone[0], atol=1e-5)


def test_stacked_edits_run_each_row_under_its_own_edit_or_none(editor_and_batch):
    """Edit.stack([None, a, a+b]): row 0 is the unedited model exactly, row 1 edit a, row 2 the composed
    (longer) edit, in one forward batch; a lone edit of batch 2 is refused."""
    model, _, editor, batch = editor_and_batch
    edit = editor.edit(model, batch).detach()
    a, longer = edit.select(0), edit.select(0).compose(edit.select(1))
    stacked = Edit.stack([None, a, longer])
    assert stacked.batch_size == 3
    ids = batch.input_ids[:1].expand(3, -1)
    with stacked.applied(model):
        together = model(ids).logits
    assert torch.equal(together[0], model(ids).logits[0])  # same batch shape, so the same kernels: exact
    for row, single in ((1, a), (2, longer)):
        with single.applied(model):
            assert torch.allclose(together[row], model(ids[:1]).logits[0], atol=1e-5)
    assert not torch.allclose(together[1], together[0], atol=1e-3)
    with pytest.raises(ValueError, match="single edits"):
        Edit.stack([edit])
    with pytest.raises(ValueError, match="at least one"):
        Edit.stack([None])


def test_packed_shared_network_call_equals_one_call_per_layer(editor_and_batch):
    """transform_all runs only gradient rows, all layers of a shape in one call: same factors as the
    straightforward per-layer network over every position, masked afterwards."""
    model, _, editor, batch = editor_and_batch
    inputs, grads, _ = editor.capture_grads(model, batch)
    rows = batch.edit_rows
    assert not rows.all()  # the batch is padded: some rows carry no gradient
    factors = editor.transform_all(inputs, grads, rows)
    for name in editor.weight_names:
        key = name.replace(".", "__")
        pair = editor.norms[key](torch.cat([inputs[name], grads[name]], dim=-1))
        in_dim = editor.shapes[name][0]
        u, d = editor.networks[editor.shape_key[name]](pair[..., :in_dim], pair[..., in_dim:], editor.mode_of[name])
        keep = rows.unsqueeze(-1).float()
        assert torch.allclose(factors[name].u, u * keep, atol=1e-5), name
        assert torch.allclose(factors[name].d, d * keep, atol=1e-5), name
    assert any(len(names) > 1 for names in editor.by_shape.values()) or families.family_of(model).name == "gpt2"


def test_compose_equals_sum_of_weight_deltas(editor_and_batch):
    model, _, editor, batch = editor_and_batch
    edit = editor.edit(model, batch).detach()
    a, b = edit.select(0), edit.select(1)
    composed = a.compose(b).weight_deltas(model)
    for name, delta in a.weight_deltas(model).items():
        assert torch.allclose(composed[name], delta + b.weight_deltas(model)[name], atol=1e-6)
    merged = edit.merged().weight_deltas(model)
    assert all(torch.allclose(merged[n], composed[n], atol=1e-6) for n in merged)


def test_edit_serialises(editor_and_batch, tmp_path):
    model, _, editor, batch = editor_and_batch
    edit = editor.edit(model, batch).detach().select(0)
    edit.save(tmp_path / "e.safetensors")
    loaded = Edit.load(tmp_path / "e.safetensors")
    assert loaded.names == edit.names
    assert all(torch.equal(loaded.factors[n].u, edit.factors[n].u) for n in edit.names)
    assert edit.nbytes() < 5_000_000


def test_edit_does_not_leak_into_other_contexts(editor_and_batch):
    import threading

    model, _, editor, batch = editor_and_batch
    edit = editor.edit(model, batch).detach().select(0)
    base = model(batch.input_ids).logits
    seen = {}
    with edit.applied(model):
        worker = threading.Thread(target=lambda: seen.setdefault("logits", model(batch.input_ids).logits))
        worker.start()
        worker.join()
    assert torch.equal(seen["logits"], base)


def test_editor_requires_statistics(tiny):
    model, tokenizer = tiny
    editor = Editor(model, EditorConfig(edit_last_k=1, rank=4))
    batch = encode_batch(tokenizer, ["The capital of France is"], ["Rome"])
    with pytest.raises(RuntimeError, match="statistics"):
        editor.edit(model, batch)


def test_checkpoint_round_trip_and_checks(editor_and_batch, tmp_path):
    model, _, editor, batch = editor_and_batch
    editor.model_fingerprint = "abc"
    editor.save(tmp_path / "ed", half=True)
    with pytest.raises(ValueError, match="weights differ"):
        Editor.load(tmp_path / "ed", model)
    from instructedit.models import fingerprint

    editor.model_fingerprint = fingerprint(model)
    editor.save(tmp_path / "ed")
    loaded = Editor.load(tmp_path / "ed", model)
    e1 = editor.edit(model, batch).detach()
    e2 = loaded.edit(model, batch).detach()
    assert all(torch.allclose(e1.factors[n].u, e2.factors[n].u) for n in e1.names)


def test_checkpoint_for_other_model_refused(editor_and_batch, tmp_path):
    from instructedit.models import tiny_model

    model, _, editor, _ = editor_and_batch
    editor.save(tmp_path / "ed")
    other, _ = tiny_model("llama" if families.family_of(model).name == "gpt2" else "gpt2")
    with pytest.raises(ValueError, match="other names or shapes"):
        Editor.load(tmp_path / "ed", other)


def test_pickle_checkpoint_refused(tiny, tmp_path):
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04not really")
    with pytest.raises(ValueError, match="refusing pickle"):
        Editor.load(tmp_path, tiny[0])


@pytest.mark.parametrize("bad", [dict(rank=0), dict(edit_last_k=0), dict(mode="nope"), dict(hidden_dim=-1)])
def test_editor_config_validation(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        EditorConfig(**bad)
