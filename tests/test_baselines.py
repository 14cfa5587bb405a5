import torch

from instructedit.baselines import FineTuneConfig, FineTuneEditor
from instructedit.editor.edit import Edit
from instructedit.evaluation.metrics import score_examples
from instructedit.instructions import Instruction
from instructedit.prompts import build_example
from toy import toy_records


def test_ftl_edit_matches_in_place_and_raises_target_probability(tiny):
    model, tokenizer = tiny
    records = toy_records(2)
    examples = [build_example(r, tokenizer, Instruction()) for r in records]
    editor = FineTuneEditor(model, FineTuneConfig(edit_last_k=1, steps=30, lr=1e-2, norm_constraint=0.05))
    scores = score_examples(model, editor, examples, tokenizer.pad_token_id)
    assert all(s["p_target"] > s["pre_p_target"] for s in scores)
    from instructedit.tokenize import collate

    batch = collate([examples[0].edit], tokenizer.pad_token_id)
    edit = editor.edit(model, batch)
    before = {n: p.clone() for n, p in model.named_parameters()}
    with edit.applied(model):
        functional = model(batch.input_ids).logits
    originals = edit.apply_(model)
    in_place = model(batch.input_ids).logits
    Edit.revert_(model, originals)
    assert torch.allclose(functional, in_place, atol=1e-4)
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters())
    for name, delta in edit.weight_deltas(model).items():
        assert delta.abs().max() <= 0.05 + 1e-6
