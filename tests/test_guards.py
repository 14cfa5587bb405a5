"""Guards for many edits (instructedit/editor/guards.py): step scale, norm cap, preserved-key projection."""
import pytest
import torch

from instructedit.editor.edit import Edit, EditFactor
from instructedit.editor.guards import KeyProjection, SequenceGuard, dominant_basis, update_norm


def _edit(rows=3, d_in=8, d_out=5, seed=0) -> Edit:
    g = torch.Generator().manual_seed(seed)
    return Edit({"w1": EditFactor(torch.randn(1, rows, d_in, generator=g), torch.randn(1, rows, d_out, generator=g),
                                  torch.tensor(0.7)),
                 "w2": EditFactor(torch.randn(1, rows, 4, generator=g) * 10, torch.randn(1, rows, 6, generator=g),
                                  torch.tensor(-0.2))})


def _dense(f: EditFactor) -> torch.Tensor:
    return f.alpha * f.u[0].T @ f.d[0]


def test_update_norm_is_the_dense_updates_frobenius_norm():
    for f in _edit().factors.values():
        assert float(update_norm(f)[0]) == pytest.approx(float(_dense(f).norm()), rel=1e-5)


def test_the_norm_cap_bounds_each_weight_and_leaves_small_updates_alone():
    edit = _edit()
    norms = {n: float(update_norm(f)[0]) for n, f in edit.factors.items()}
    cap = sorted(norms.values())[0] * 1.5  # between the two weights' norms
    guarded = SequenceGuard(max_norm=cap).apply(edit)
    for name, f in guarded.factors.items():
        after = float(_dense(f).norm())
        if norms[name] <= cap:
            assert torch.allclose(_dense(f), _dense(edit.factors[name]))
        else:
            assert after == pytest.approx(cap, rel=1e-5)
            assert torch.allclose(_dense(f) / after, _dense(edit.factors[name]) / norms[name], atol=1e-6)


def test_scale_multiplies_every_update():
    edit = _edit()
    half = SequenceGuard(scale=0.5).apply(edit)
    for name, f in half.factors.items():
        assert torch.allclose(_dense(f), 0.5 * _dense(edit.factors[name]), atol=1e-6)
    with pytest.raises(ValueError, match="scale"):
        SequenceGuard(scale=0.0)
    with pytest.raises(ValueError, match="max_norm"):
        SequenceGuard(max_norm=-1.0)


def test_projected_edits_leave_preserved_keys_unchanged_and_keep_their_own_direction():
    g = torch.Generator().manual_seed(1)
    keys = torch.randn(50, 2, generator=g, dtype=torch.float64) @ torch.randn(2, 8, generator=g, dtype=torch.float64)
    basis = dominant_basis(keys, 0.999)
    assert basis.shape == (8, 2)  # the keys span two directions
    edit = _edit()
    plain = KeyProjection({"w1": basis}, max_scale=1.0).apply(edit)
    x = keys[:5].float().unsqueeze(0)
    assert plain.factors["w1"].output_delta(x).abs().max() < 1e-4
    assert edit.factors["w1"].output_delta(x).abs().max() > 1e-2
    assert torch.equal(plain.factors["w2"].u, edit.factors["w2"].u)  # no basis: unchanged
    rescaled = KeyProjection({"w1": basis}, max_scale=1e6).apply(edit)
    u, v = edit.factors["w1"].u[0].double(), rescaled.factors["w1"].u[0].double()
    assert torch.allclose((u * v).sum(-1), (u * u).sum(-1), rtol=1e-4)  # each row's effect along itself kept
    with pytest.raises(ValueError, match="max_scale"):
        KeyProjection({}, max_scale=0.5)


def test_preserved_sentences_come_from_the_named_source_and_leave_out_excluded_prompts(shared_data):
    """The default source is ROME known facts; `known+counterfact` alternates them with CounterFact's training
    neighbourhood facts; an excluded prompt never appears; an unknown source names the option and the choices."""
    from instructedit.data.enrich import load_known_facts
    from instructedit.editor.guards import PRESERVED_SOURCES, preserved_sentences

    facts = load_known_facts()
    known = preserved_sentences(set(), 6)
    assert known == [f"{f.probe.prompt} {f.probe.answer}" for f in facts[:6]]
    excluded = {facts[0].probe.prompt, facts[2].probe.prompt}
    kept = preserved_sentences(excluded, 6)
    assert kept[0] == known[1] and not any(s.startswith(tuple(excluded)) for s in kept)
    mixed = preserved_sentences(set(), 6, "known+counterfact")
    assert mixed[0::2] == known[:3] and not set(mixed[1::2]) & set(known)
    pairs = dict(PRESERVED_SOURCES["known+counterfact"]())
    assert len(pairs) > 1000  # both sources together reach the counts the sequence variants ask for
    with pytest.raises(ValueError, match="preserved_from must be one of"):
        preserved_sentences(set(), 3, "wikipedia")
