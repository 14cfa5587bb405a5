"""Separation scores on synthetic vectors: clear clusters score high, random labels score at chance."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.separation import knn_accuracy, separation_by_editor, separation_scores, variance_ratio
from analysis.synthetic import synthetic_directionset


def _clusters(n_per: int = 60, dim: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three well-separated Gaussian clusters in ``dim`` dimensions."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, dim)) * 4.0
    x = np.concatenate([c + rng.normal(size=(n_per, dim)) for c in centres])
    return x.astype(np.float32), np.repeat(np.array(["Recent", "CounterFact", "zsRE"]), n_per)


def test_separated_clusters_score_high() -> None:
    x, y = _clusters()
    scores = separation_scores(x, y, seed=0)
    assert scores["silhouette"] > 0.5
    assert scores["silhouette_2d"] > 0.5
    assert scores["knn_accuracy"] > 0.95
    assert scores["variance_ratio"] > 5.0
    assert scores["n"] == 180 and scores["n_labels"] == 3 and scores["note"] == ""
    assert scores["knn_chance"] == pytest.approx(1 / 3)


def test_random_labels_score_near_chance() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 64))
    y = rng.choice(["a", "b", "c"], size=300)
    scores = separation_scores(x, y, seed=0)
    assert abs(scores["silhouette"]) < 0.1
    assert abs(scores["silhouette_2d"]) < 0.1
    assert abs(scores["knn_accuracy"] - scores["knn_chance"]) < 0.12
    assert scores["variance_ratio"] < 0.05


def test_scores_are_seeded_deterministic() -> None:
    x, y = _clusters(n_per=20, seed=3)
    assert separation_scores(x, y, seed=5) == separation_scores(x, y, seed=5)


def test_single_label_gives_nan_with_note() -> None:
    x, _ = _clusters(n_per=10)
    scores = separation_scores(x, ["Recent"] * len(x))
    for key in ("silhouette", "silhouette_2d", "knn_accuracy", "variance_ratio"):
        assert math.isnan(scores[key])
    assert "at least 2 distinct labels" in scores["note"]
    assert scores["knn_chance"] == 1.0


def test_empty_input_is_handled() -> None:
    scores = separation_scores(np.zeros((0, 8)), [])
    assert scores["n"] == 0 and math.isnan(scores["silhouette"]) and scores["note"]


def test_singleton_class_gives_nan_knn_but_scores_the_rest() -> None:
    x, y = _clusters(n_per=5)
    y = y.copy()
    y[0] = "lonely"
    scores = separation_scores(x, y)
    assert math.isnan(scores["knn_accuracy"])
    assert "k-NN" in scores["note"]
    assert not math.isnan(scores["silhouette"])


def test_tiny_classes_reduce_folds_and_k() -> None:
    x, y = _clusters(n_per=2)
    assert knn_accuracy(x, y, k=5) > 0.9


def test_given_points_2d_are_used_and_checked() -> None:
    x, y = _clusters(n_per=10)
    mixed = np.random.default_rng(0).normal(size=(len(x), 2))
    assert abs(separation_scores(x, y, points_2d=mixed)["silhouette_2d"]) < 0.2
    with pytest.raises(ValueError, match="points_2d"):
        separation_scores(x, y, points_2d=mixed[:5])


def test_mismatched_lengths_raise() -> None:
    with pytest.raises(ValueError, match="labels"):
        separation_scores(np.zeros((4, 3)), ["a", "b"])


def test_variance_ratio_limits() -> None:
    x = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0], [1.0, 1.0]])
    assert variance_ratio(x, np.array(["a", "a", "b", "b"])) == math.inf
    assert math.isnan(variance_ratio(x, np.array(["a"] * 4)))


def test_separation_by_editor_ranks_instructedit_above_multitask_mend() -> None:
    dirset = synthetic_directionset({"InstructEdit": 3.0, "MEND (multi-task)": 0.05},
                                    tasks=("Recent", "CounterFact", "zsRE"), per_group=30, dim=64)
    table = separation_by_editor(dirset).set_index("editor")
    assert table.loc["InstructEdit", "silhouette"] > 0.5
    assert table.loc["InstructEdit", "knn_accuracy"] > 0.95
    assert abs(table.loc["MEND (multi-task)", "silhouette"]) < 0.1
