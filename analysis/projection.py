"""2-D projections of direction vectors (PCA, t-SNE, UMAP), chosen from a registry.

To compare groups in one panel, project the union of the groups in a single call
(one fit) and split the rows afterwards: separate fits are not comparable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

logger = logging.getLogger(__name__)

Projector = Callable[..., np.ndarray]

# t-SNE on d=1536 is faster and no less faithful after a PCA to this many dimensions.
TSNE_PCA_DIMS = 50
# OpenMP threads for t-SNE's gradient: on a busy machine, spinning OpenMP threads made a
# 600-point t-SNE 10x slower with 2 threads than with 1 (2 cores, 2 other busy processes).
TSNE_THREADS = 1


def _validate(vectors: np.ndarray) -> np.ndarray:
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"vectors must be 2-D (n x d), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("vectors contain NaN or inf")
    return x


def _pad(points: np.ndarray, n: int) -> np.ndarray:
    """Zero-pad a projection with fewer than 2 columns (n < 3 or d < 2) to n x 2."""
    out = np.zeros((n, 2), dtype=np.float64)
    out[:, : points.shape[1]] = points
    return out


def _pca(x: np.ndarray, seed: int, **kw: Any) -> np.ndarray:
    n_components = min(2, x.shape[0], x.shape[1])
    if n_components < 1 or x.shape[0] < 2:
        return np.zeros((x.shape[0], 2))
    from sklearn.decomposition import PCA  # sklearn loads in ~1 s: only when a projection runs

    points = PCA(n_components=n_components, random_state=seed, **kw).fit_transform(x)
    return _pad(points, x.shape[0])


def _reduce_for_neighbours(x: np.ndarray, seed: int, dims: int | None) -> np.ndarray:
    if dims is None or x.shape[1] <= dims or x.shape[0] <= dims:
        return x
    from sklearn.decomposition import PCA

    return PCA(n_components=dims, random_state=seed).fit_transform(x)


def _tsne(
    x: np.ndarray, seed: int, perplexity: float = 30.0, pca_dims: int | None = TSNE_PCA_DIMS,
    n_threads: int = TSNE_THREADS, **kw: Any,
) -> np.ndarray:
    n = x.shape[0]
    if n < 3:
        return _pca(x, seed)
    clipped = float(min(perplexity, n - 1))
    if clipped != perplexity:
        logger.debug("t-SNE perplexity %.1f clipped to %.1f for n=%d", perplexity, clipped, n)
    reduced = _reduce_for_neighbours(x, seed, pca_dims)
    from sklearn.manifold import TSNE

    tsne = TSNE(n_components=2, perplexity=clipped, random_state=seed, init="pca", **kw)
    with threadpool_limits(limits=n_threads, user_api="openmp"):
        return tsne.fit_transform(reduced)


def _umap(x: np.ndarray, seed: int, n_neighbors: int = 15, min_dist: float = 0.1, **kw: Any) -> np.ndarray:
    n = x.shape[0]
    if n < 4:
        logger.info("UMAP needs at least 4 points (got %d); using PCA", n)
        return _pca(x, seed)
    import umap  # slow import (numba), so only when UMAP is asked for

    neighbours = int(max(2, min(n_neighbors, n - 1)))
    init = kw.pop("init", "spectral" if n > 10 else "random")
    kw.setdefault("n_jobs", 1)  # a seeded UMAP is single-threaded anyway; say so to silence its warning
    reducer = umap.UMAP(n_components=2, n_neighbors=neighbours, min_dist=min_dist, random_state=seed, init=init, **kw)
    return np.asarray(reducer.fit_transform(x), dtype=np.float64)


PROJECTORS: dict[str, Projector] = {"pca": _pca, "tsne": _tsne, "umap": _umap}

AXIS_LABELS: dict[str, tuple[str, str]] = {
    "pca": ("PC 1", "PC 2"),
    "tsne": ("t-SNE 1", "t-SNE 2"),
    "umap": ("UMAP 1", "UMAP 2"),
}


def available_methods() -> list[str]:
    """Names accepted by :func:`project`."""
    return sorted(PROJECTORS)


def project(vectors: np.ndarray, method: str = "pca", seed: int = 0, **kw: Any) -> np.ndarray:
    """Project n x d vectors to n x 2 with ``method`` in ``pca | tsne | umap``.

    The result is deterministic for a given ``seed``. Extra keyword arguments go to
    the underlying estimator (e.g. ``perplexity`` for t-SNE, ``n_neighbors`` for UMAP).
    """
    projector = PROJECTORS.get(method)
    if projector is None:
        raise ValueError(f"unknown projection method {method!r}; allowed: {', '.join(available_methods())}")
    x = _validate(vectors)
    if x.shape[0] == 0:
        return np.zeros((0, 2))
    points = np.asarray(projector(x, seed, **kw), dtype=np.float64)
    logger.debug("projected %d x %d with %s", x.shape[0], x.shape[1], method)
    return points


def project_groups(groups: list[np.ndarray], method: str = "pca", seed: int = 0, **kw: Any) -> list[np.ndarray]:
    """Project several groups in one fit on their union; return one n_i x 2 array per group."""
    if not groups:
        return []
    sizes = [len(g) for g in groups]
    points = project(np.concatenate([np.asarray(g) for g in groups], axis=0), method, seed, **kw)
    return list(np.split(points, np.cumsum(sizes)[:-1]))
