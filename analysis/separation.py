"""How well task labels separate direction vectors: silhouette, k-NN accuracy, variance ratio.

These numbers back the paper's visual claim (Fig. 2a) that InstructEdit's editing
directions form one cluster per task while multi-task MEND's overlap.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import silhouette_score
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from analysis.directionset import DirectionSet
from analysis.projection import project

logger = logging.getLogger(__name__)

# silhouette is O(n^2) in memory; above this many points it is estimated on a sample.
SILHOUETTE_MAX_SAMPLES = 5000


def _silhouette(x: np.ndarray, labels: np.ndarray, metric: str, seed: int) -> float:
    n_labels = len(np.unique(labels))
    if not 2 <= n_labels <= len(labels) - 1:
        return math.nan
    sample = SILHOUETTE_MAX_SAMPLES if len(labels) > SILHOUETTE_MAX_SAMPLES else None
    return float(silhouette_score(x, labels, metric=metric, sample_size=sample, random_state=seed))


def knn_accuracy(x: np.ndarray, labels: np.ndarray, k: int = 5, n_splits: int = 5, seed: int = 0) -> float:
    """Cross-validated accuracy of a cosine k-NN classifier predicting the label.

    Folds are stratified; their number is reduced to the smallest class size, and
    ``k`` to what the smallest class keeps in a training fold. Returns NaN when a class
    has < 2 members.
    """
    _, counts = np.unique(labels, return_counts=True)
    folds = int(min(n_splits, counts.min())) if len(counts) else 0
    if len(counts) < 2 or folds < 2:
        return math.nan
    # no more neighbours than the smallest class keeps in a training fold, else votes are swamped
    smallest_class_in_train = int(counts.min()) * (folds - 1) // folds
    neighbours = max(1, min(k, smallest_class_in_train))
    classifier = KNeighborsClassifier(n_neighbors=neighbours, metric="cosine", algorithm="brute")
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return float(np.mean(cross_val_score(classifier, x, labels, cv=splitter)))


def variance_ratio(x: np.ndarray, labels: np.ndarray) -> float:
    """Between-label over within-label variance (sum of squared distances, per point).

    Large when labels sit in tight, distant clusters; about (L-1)/(n-L) for random labels.
    """
    classes = np.unique(labels)
    if len(classes) < 2:
        return math.nan
    grand = x.mean(axis=0)
    between = 0.0
    within = 0.0
    for label in classes:
        members = x[labels == label]
        centre = members.mean(axis=0)
        between += len(members) * float(np.sum((centre - grand) ** 2))
        within += float(np.sum((members - centre) ** 2))
    if within == 0.0:
        return math.inf if between > 0 else math.nan
    return between / within


def _chance(labels: np.ndarray) -> float:
    if len(labels) == 0:
        return math.nan
    _, counts = np.unique(labels, return_counts=True)
    return float(counts.max() / counts.sum())


def separation_scores(
    vectors: np.ndarray,
    labels: np.ndarray | list[Any],
    seed: int = 0,
    points_2d: np.ndarray | None = None,
    k: int = 5,
) -> dict[str, Any]:
    """Scores of how well ``labels`` (e.g. tasks) separate ``vectors`` (n x d).

    Returns a dict with ``n``, ``n_labels``, ``silhouette`` (cosine, full dimension),
    ``silhouette_2d`` (euclidean, on ``points_2d`` or on a PCA projection computed here),
    ``knn_accuracy`` (cross-validated cosine k-NN), ``knn_chance`` (majority-class rate),
    ``variance_ratio`` (between/within) and ``note`` (why a score is NaN, else "").
    """
    x = np.asarray(vectors, dtype=np.float64)
    y = np.asarray(labels).astype(str)
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"need n x d vectors and n labels, got {x.shape} and {len(y)}")
    n_labels = int(len(np.unique(y)))
    result: dict[str, Any] = {"n": int(len(y)), "n_labels": n_labels, "note": ""}
    if n_labels < 2:
        result.update(dict.fromkeys(("silhouette", "silhouette_2d", "knn_accuracy", "variance_ratio"), math.nan))
        result["knn_chance"] = _chance(y)
        result["note"] = f"need at least 2 distinct labels to score separation, got {n_labels}"
        logger.info(result["note"])
        return result
    points = project(x, "pca", seed=seed) if points_2d is None else np.asarray(points_2d, dtype=np.float64)
    if points.shape != (len(y), 2):
        raise ValueError(f"points_2d must be n x 2 = ({len(y)}, 2), got {points.shape}")
    result["silhouette"] = _silhouette(x, y, "cosine", seed)
    result["silhouette_2d"] = _silhouette(points, y, "euclidean", seed)
    result["knn_accuracy"] = knn_accuracy(x, y, k=k, seed=seed)
    result["knn_chance"] = _chance(y)
    result["variance_ratio"] = variance_ratio(x, y)
    notes = []
    if math.isnan(result["silhouette"]):
        notes.append("silhouette needs 2 <= labels <= n-1")
    if math.isnan(result["knn_accuracy"]):
        notes.append("k-NN accuracy needs every label at least twice")
    result["note"] = "; ".join(notes)
    return result


def separation_by_editor(dirset: DirectionSet, kind: str = "u_tilde", seed: int = 0) -> pd.DataFrame:
    """One row of :func:`separation_scores` (tasks as labels) per editor in ``dirset``."""
    rows = []
    for editor in sorted(dirset.meta["editor"].astype(str).unique()):
        part = dirset.subset(editor=editor, kind=kind)
        if len(part) == 0:
            continue
        scores = separation_scores(part.vectors, part.meta["task"].to_numpy(), seed=seed)
        rows.append({"editor": editor, **scores})
    return pd.DataFrame(rows)
