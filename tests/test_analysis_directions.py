import json

import numpy as np
import pytest

from analysis.directions import CollectOptions, collect, collect_cached, default_weight
from tiny_editors import tiny_editor
from toy import toy_records


@pytest.fixture()
def warmed(tiny):
    model, tokenizer = tiny
    return model, tokenizer, tiny_editor(model, tokenizer)


def test_collect_shapes_norms_and_metadata(warmed):
    model, tokenizer, editor = warmed
    records = toy_records(6, "counterfact") + toy_records(5, "recent", seed=1)
    dirset = collect(model, tokenizer, editor, records, "ed", CollectOptions(batch_size=4), progress=False)
    weight = default_weight(model, editor)
    in_dim = editor.shapes[weight][0]
    for kind in ("u_tilde", "u_raw"):
        part = dirset.subset(kind=kind)
        assert part.vectors.shape == (11, in_dim)
        assert np.allclose(np.linalg.norm(part.vectors, axis=1), 1.0, atol=1e-4)
    deltas = collect(model, tokenizer, editor, records, "ed", CollectOptions(kinds=("delta_tilde",)), progress=False)
    assert deltas.vectors.shape == (11, editor.shapes[weight][1])
    assert set(dirset.meta["task"]) == {"counterfact", "recent"} and set(dirset.meta["instruction"]) == {"seen"}


def test_identity_editor_direction_is_normalised_raw_input(warmed):
    """Before training the network is the identity in normalised space, so mean-pooled ũ = (mean u - μ) / σ."""
    model, tokenizer, editor = warmed
    opts = CollectOptions(normalise=False, pooling="mean")
    dirset = collect(model, tokenizer, editor, toy_records(3), "ed", opts, progress=False)
    name = default_weight(model, editor)
    norm = editor.norms[name.replace(".", "__")]
    in_dim = editor.shapes[name][0]
    mean, std = norm.mean[:in_dim].numpy(), norm.std()[:in_dim].numpy()
    expected = (dirset.subset(kind="u_raw").vectors - mean) / std
    assert np.allclose(dirset.subset(kind="u_tilde").vectors, expected, atol=1e-4)


def test_collect_is_cached(warmed, tmp_path):
    model, tokenizer, editor = warmed
    editor.save(tmp_path / "ed")
    records = toy_records(4)
    first = collect_cached(tmp_path / "cache", tmp_path / "ed", model, tokenizer, editor, records, "ed")
    assert len(list((tmp_path / "cache").glob("*.safetensors"))) == 1
    second = collect_cached(tmp_path / "cache", tmp_path / "ed", model, tokenizer, editor, records, "ed")
    assert np.array_equal(first.vectors, second.vectors)


def test_bad_options_name_the_field():
    with pytest.raises(ValueError, match="pooling"):
        CollectOptions(pooling="max")
    with pytest.raises(ValueError, match="kinds"):
        CollectOptions(kinds=("u_tilde", "delta_tilde"))
    with pytest.raises(ValueError, match="n must"):
        CollectOptions(n=0)


def test_analyze_cli_writes_figures_and_separation(warmed, tmp_path, shared_data, monkeypatch):
    from workbench.cli import main

    model, tokenizer, editor = warmed
    monkeypatch.setenv("INSTRUCTEDIT_CACHE", str(tmp_path / "cache"))
    editor.save(tmp_path / "editors" / "ed-a")
    editor.save(tmp_path / "editors" / "ed-b")
    spec = model.config.instructedit_spec
    code = main(["analyze", "--editors", f"{tmp_path}/editors/ed-a,{tmp_path}/editors/ed-b", "--tasks",
                 "counterfact,zsre", "--n", "6", "--out", str(tmp_path / "out"), "--format", "html", "--model", spec])
    assert code == 0
    report = json.loads((tmp_path / "out" / "separation.json").read_text())
    assert {row["editor"] for row in report["u_tilde"]} == {"ed-a", "ed-b"} and report["u_raw"]
    assert (tmp_path / "out" / "directions-u_tilde-pca.html").stat().st_size > 1000
