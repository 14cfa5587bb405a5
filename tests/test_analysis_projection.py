"""Projection registry: every method gives finite, seeded-deterministic n x 2 points."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.projection import available_methods, project, project_groups

FAST_METHODS = ["pca", "tsne"]


def _vectors(n: int = 60, dim: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)


def test_registry_lists_the_three_methods() -> None:
    assert available_methods() == ["pca", "tsne", "umap"]


@pytest.mark.parametrize("method", FAST_METHODS)
def test_fast_methods_are_finite_and_deterministic(method: str) -> None:
    x = _vectors()
    first = project(x, method=method, seed=3)
    assert first.shape == (60, 2)
    assert np.all(np.isfinite(first))
    np.testing.assert_array_equal(first, project(x, method=method, seed=3))


@pytest.mark.slow
def test_umap_is_finite_and_deterministic() -> None:
    x = _vectors(n=40)
    first = project(x, method="umap", seed=3)
    assert first.shape == (40, 2) and np.all(np.isfinite(first))
    np.testing.assert_array_equal(first, project(x, method="umap", seed=3))


@pytest.mark.parametrize("method", ["pca", "tsne", "umap"])
@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_tiny_inputs_do_not_fail(method: str, n: int) -> None:
    points = project(_vectors(n=n, dim=5), method=method)
    assert points.shape == (n, 2) and np.all(np.isfinite(points))


def test_tsne_perplexity_is_clipped_for_small_n() -> None:
    points = project(_vectors(n=8), method="tsne", perplexity=30.0)
    assert points.shape == (8, 2) and np.all(np.isfinite(points))


def test_one_dimensional_vectors_are_padded() -> None:
    points = project(_vectors(n=10, dim=1), method="pca")
    assert points.shape == (10, 2)
    assert np.all(points[:, 1] == 0)


def test_unknown_method_names_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="pca, tsne, umap"):
        project(_vectors(), method="isomap")


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="2-D"):
        project(np.zeros(5))
    bad = _vectors(n=5)
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        project(bad)


def test_project_groups_fits_the_union_once() -> None:
    a, b = _vectors(n=20, seed=1), _vectors(n=30, seed=2) + 5.0
    parts = project_groups([a, b], method="pca")
    union = project(np.concatenate([a, b]), method="pca")
    assert [p.shape for p in parts] == [(20, 2), (30, 2)]
    np.testing.assert_allclose(np.concatenate(parts), union)
