"""Any Hugging Face causal LM: registry families and discovered ones, on tiny random configs (2 blocks,
hidden 64, the 512-token offline tokenizer).

Per architecture it is asserted that
- the edited weights are the last block's MLP projections and their orientation is right;
- the two-halves forward (trunk, then the top block) reproduces `model(ids).logits` on a right-padded
  batch (path "registry" or "captured"; `PATHS` names which each architecture uses);
- a few steps of meta-training on the toy task run (finite losses, α moves, a checkpoint is written):
  a meta-trained editor cannot reach success in a few steps on a random model, so success is shown by
- an FT-L edit (`FineTuneEditor`, which memorises reliably on tiny models) of a toy record: every target
  token becomes the top-1 prediction under the edit, and a MEND editor (large α) moves the target
  log-probability; both through the same hooks and two-halves forward the MEND editor uses;
- every base parameter is bit-identical before and after (edits are applied through hooks, never written).
"""
from __future__ import annotations

from contextlib import nullcontext

import pytest
import torch

from instructedit.baselines import FineTuneConfig, FineTuneEditor
from instructedit.editor.forward import full_logits, per_record_nll
from instructedit.models import families, tiny_model
from instructedit.models.discovery import DiscoveryError, discover, find_mlp
from instructedit.tokenize import encode_batch
from instructedit.training.config import TrainConfig
from instructedit.training.trainer import Trainer
from tiny_editors import tiny_editor
from toy import toy_records

PATHS = {
    "gpt2": "registry", "llama": "registry", "mistral": "registry", "qwen2": "registry",
    "gptj": "captured", "gpt_neox": "captured", "opt": "captured", "phi3": "captured", "gemma2": "captured",
    "falcon": "captured", "starcoder2": "captured", "olmo": "captured",
}

# OPT flattens the hidden states to [B*T, d] before fc1/fc2: MEND's capture reshapes them to [B, T, d]
# (`Editor.capture_grads`) and a batched edit splits the flattened rows per batch row (`EditFactor`).


def test_a_batched_edit_on_flattened_rows_equals_the_unflattened_one():
    from instructedit.editor.edit import EditFactor

    gen = torch.Generator().manual_seed(0)
    factor = EditFactor(torch.randn(2, 3, 4, generator=gen), torch.randn(2, 3, 5, generator=gen), torch.tensor(0.5))
    x = torch.randn(2, 7, 4, generator=gen)
    torch.testing.assert_close(factor.output_delta(x.reshape(14, 4)), factor.output_delta(x).reshape(14, 5))
    with pytest.raises(ValueError, match="edit batch"):
        factor.output_delta(torch.randn(13, 4))


@pytest.fixture(scope="module", params=sorted(PATHS))
def arch(request):
    model, tokenizer = tiny_model(request.param)
    return request.param, model, tokenizer


def _snapshot(model) -> dict:
    return {n: p.detach().clone() for n, p in model.state_dict().items()}


def _assert_untouched(model, before: dict) -> None:
    after = model.state_dict()
    assert after.keys() == before.keys()
    assert all(torch.equal(after[n], before[n]) for n in before)


def test_discovers_the_mlp_and_the_path(arch):
    name, model, _ = arch
    fam = families.family_of(model)
    assert fam.path == PATHS[name]
    names = families.editable_weight_names(model, last_k=1)
    assert names and all(n.startswith(f"{fam.blocks}.1.") for n in names)
    hidden = model.config.hidden_size
    in_dim, out_dim = families.weight_in_out(model, names[-1])
    assert out_dim == hidden and in_dim != hidden  # the down projection comes last
    assert all(families.weight_in_out(model, n)[0] == hidden for n in names[:-1])


def test_two_halves_match_full_forward(arch):
    _, model, tokenizer = arch
    ids = tokenizer(["The capital of France is Paris", "Tokyo is in Japan"], return_tensors="pt",
                    padding=True).input_ids
    full = model(ids, use_cache=False).logits
    state = families.run_blocks(model, families.embed(model, ids), 0, 1)
    split = families.head(model, families.run_blocks(model, state, 1).hidden)
    real = int((ids[1] != tokenizer.pad_token_id).sum())
    torch.testing.assert_close(split[0], full[0], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(split[1, :real], full[1, :real], atol=1e-4, rtol=1e-4)


def test_a_few_training_steps_run(arch, tmp_path):
    name, model, tokenizer = arch
    before = _snapshot(model)
    config = TrainConfig(model=f"tiny-{name}", trunk_store=False, steps=3, edits_per_step=2, lr=1e-3,
                         alpha_lr=1e-2, eval_every=3, val_records=4, norm_warmup_batches=1,
                         editor=dict(edit_last_k=1, rank=8, mode="single-task", tasks=["counterfact"]),
                         out_dir=str(tmp_path / "run"))
    trainer = Trainer(config, model, tokenizer, {"counterfact": toy_records(24)})
    alphas = [float(a.detach()) for a in trainer.editor.alphas.values()]
    trainer.train()
    assert (trainer.out / "last" / "editor.safetensors").is_file()
    assert [float(a.detach()) for a in trainer.editor.alphas.values()] != alphas
    _assert_untouched(model, before)


def _target_nll(model, batch, edit=None) -> tuple[float, bool]:
    """(mean target NLL, whether every target token is the top-1 prediction), under `edit` if given."""
    with edit.applied(model) if edit is not None else nullcontext(), torch.no_grad():
        logits, targets, rows = full_logits(model, batch)
    return float(per_record_nll(logits, targets, rows, len(batch)).mean()), bool((logits.argmax(-1) == targets).all())


def test_ftl_edit_succeeds_and_base_is_untouched(arch):
    _, model, tokenizer = arch
    record = toy_records(1, seed=3)[0]
    batch = encode_batch(tokenizer, [record.prompt], [" " + record.target])
    before = _snapshot(model)
    nll_before, hit_before = _target_nll(model, batch)
    edit = FineTuneEditor(model, FineTuneConfig(edit_last_k=1, steps=40, lr=5e-2, norm_constraint=1.0)).edit(model, batch)
    nll_after, hit_after = _target_nll(model, batch, edit)
    assert not hit_before and hit_after and nll_after < nll_before
    _assert_untouched(model, before)


def test_mend_edit_moves_the_target(arch):
    name, model, tokenizer = arch
    record = toy_records(1, seed=5)[0]
    batch = encode_batch(tokenizer, [record.prompt], [" " + record.target])
    before = _snapshot(model)
    editor = tiny_editor(model, tokenizer, mode="single-task", jitter=0.05, alpha=-50.0)
    nll_before, _ = _target_nll(model, batch)
    nll_after, _ = _target_nll(model, batch, editor.edit(model, batch))
    assert abs(nll_after - nll_before) > 1e-3
    _assert_untouched(model, before)


def test_discovery_agrees_with_the_registry():
    for name in ("gpt2", "llama"):
        model, _ = tiny_model(name)
        fam, found = families.family_of(model), discover(model)
        assert (found.blocks, found.editable, found.conv1d, found.final_norm) == \
            (fam.blocks, fam.editable, fam.conv1d, fam.final_norm)


def test_missing_down_projection_is_named():
    model, _ = tiny_model("olmo")
    block = model.model.layers[1]
    block.mlp.down_proj = torch.nn.Identity()
    with pytest.raises(DiscoveryError, match=r"no MLP down-projection \(out = hidden size 64\) in block "
                                             r"model.layers.1; .*mlp.up_proj \(64 x 192\)"):
        find_mlp(block, "model.layers.1", 64)
