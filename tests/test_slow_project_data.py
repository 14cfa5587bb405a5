"""Slow tier: the project's Recent set holds facts the default model does not know."""
import dataclasses

import pytest

from instructedit.baselines import NoEditEditor
from instructedit.data.tasks import load_split
from instructedit.evaluation.evaluate import evaluate

pytestmark = pytest.mark.slow


def test_base_model_reliability_on_recent_is_under_20_percent(default_model):
    model, tokenizer = default_model
    records = load_split("recent-synthetic", "train") + load_split("recent-synthetic", "test")
    # Reliability reads the edit prompt only: the paraphrases and neighbours (2.5x as many probes) are left out
    records = [dataclasses.replace(r, rephrases=(), locality=()) for r in records]
    result = evaluate(model, tokenizer, NoEditEditor(model), records, "none", batch_size=16, generation_metrics=False,
                      progress=False)
    reliability = result["summary"]["recent"]["reliability"]["mean"]
    assert reliability < 0.20, reliability
