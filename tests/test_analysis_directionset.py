"""DirectionSet: validation, subset/concat, safetensors + JSON round trip (no pickle)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.directionset import DirectionSet, concat, sidecar_path


def _set(n_per: int = 3, dim: int = 8,
         editors: tuple[str, ...] = ("InstructEdit", "MEND (multi-task)")) -> DirectionSet:
    rng = np.random.default_rng(0)
    rows = [{"editor": e, "task": t, "record_id": f"{t}-{i}", "instruction": f"Task: {t}", "kind": "u_tilde"}
            for e in editors for t in ("Recent", "zsRE") for i in range(n_per)]
    return DirectionSet(rng.normal(size=(len(rows), dim)), pd.DataFrame(rows))


def test_vectors_become_float32_and_index_is_reset() -> None:
    ds = _set()
    assert ds.vectors.dtype == np.float32
    assert len(ds) == 12 and ds.dim == 8
    assert list(ds.meta.index) == list(range(12))


def test_validation_errors() -> None:
    ds = _set()
    with pytest.raises(ValueError, match="missing columns"):
        DirectionSet(ds.vectors, ds.meta.drop(columns=["kind"]))
    with pytest.raises(ValueError, match="rows"):
        DirectionSet(ds.vectors[:3], ds.meta)
    with pytest.raises(ValueError, match="unknown kind"):
        DirectionSet(ds.vectors, ds.meta.assign(kind="grad"))
    with pytest.raises(ValueError, match="2-D"):
        DirectionSet(np.zeros((2, 2, 2)), ds.meta.iloc[:2])


def test_subset_by_value_and_list() -> None:
    ds = _set()
    assert len(ds.subset(editor="InstructEdit")) == 6
    assert len(ds.subset(editor=["InstructEdit"], task="zsRE")) == 3
    assert len(ds.subset(kind="delta_tilde")) == 0
    sub = ds.subset(task="zsRE")
    np.testing.assert_array_equal(sub.vectors, ds.vectors[(ds.meta["task"] == "zsRE").to_numpy()])


def test_concat_stacks_in_order_and_checks_dim() -> None:
    a, b = _set(editors=("A",)), _set(editors=("B",))
    both = concat([a, b])
    assert len(both) == len(a) + len(b)
    assert list(both.meta["editor"].unique()) == ["A", "B"]
    assert len(DirectionSet.concat([a, b])) == len(both)
    with pytest.raises(ValueError, match="dimensions"):
        concat([a, _set(dim=4)])
    with pytest.raises(ValueError, match="at least one"):
        concat([])


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_save_load_round_trip(tmp_path: Path, dtype: str) -> None:
    ds = _set()
    tensor_path, meta_path = ds.save(tmp_path / "dirs.safetensors", dtype=dtype)
    assert meta_path == sidecar_path(tensor_path)
    assert json.loads(meta_path.read_text())["dtype"] == dtype
    back = DirectionSet.load(tensor_path)
    pd.testing.assert_frame_equal(back.meta, ds.meta, check_dtype=False)
    tol = 1e-2 if dtype == "float16" else 0.0
    np.testing.assert_allclose(back.vectors, ds.vectors, atol=tol, rtol=tol)
    assert not list(tmp_path.glob("*.tmp"))  # atomic writes leave no temp files


def test_float16_overflow_is_refused(tmp_path: Path) -> None:
    ds = _set()
    ds.vectors[0, 0] = 1e6
    with pytest.raises(ValueError, match="float32"):
        ds.save(tmp_path / "big.safetensors")
    ds.save(tmp_path / "big.safetensors", dtype="float32")


def test_bad_dtype_and_foreign_sidecar(tmp_path: Path) -> None:
    ds = _set()
    with pytest.raises(ValueError, match="dtype"):
        ds.save(tmp_path / "x.safetensors", dtype="int8")
    path, meta = ds.save(tmp_path / "x.safetensors")
    meta.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="sidecar"):
        DirectionSet.load(path)


def test_empty_set_round_trip(tmp_path: Path) -> None:
    path, _ = DirectionSet.empty(16).save(tmp_path / "empty.safetensors")
    back = DirectionSet.load(path)
    assert len(back) == 0 and back.dim == 16


_text = st.text(min_size=0, max_size=20)


@settings(max_examples=25, deadline=None)
@given(rows=st.lists(st.tuples(_text, _text, _text, st.sampled_from(["u_tilde", "delta_tilde", "u_raw"])),
                     min_size=1, max_size=8))
def test_metadata_text_survives_round_trip(tmp_path_factory: pytest.TempPathFactory,
                                           rows: list[tuple[str, str, str, str]]) -> None:
    meta = pd.DataFrame([{"editor": e, "task": t, "record_id": i, "instruction": t + "\n" + e, "kind": k}
                         for i, (e, t, _, k) in enumerate(rows)])
    ds = DirectionSet(np.arange(len(rows) * 3, dtype=np.float32).reshape(len(rows), 3), meta)
    path, _ = ds.save(tmp_path_factory.mktemp("rt") / "d.safetensors")
    back = DirectionSet.load(path)
    assert back.meta["instruction"].tolist() == meta["instruction"].tolist()
    assert back.meta["record_id"].tolist() == meta["record_id"].tolist()
