import numpy as np
import pytest

from instructedit.baselines import NoEditEditor
from instructedit.evaluation.evaluate import bootstrap_ci, evaluate, markdown_table
from instructedit.evaluation.generation import fluency, ngram_entropy, sentiment
from toy import toy_records


def test_ngram_entropy_orders_repetitive_below_varied():
    assert ngram_entropy("the the the the the the") == 0.0
    varied = "the quick brown fox jumps over the lazy dog while birds sing in tall green trees"
    assert fluency(varied) > fluency("I like it . I like it . I like it . I like it .") > 0


def test_sentiment_lexicon_signs():
    assert sentiment("I love this wonderful, delightful song.") > 0.5
    assert sentiment("I hate this awful, boring song.") < -0.5


def test_bootstrap_interval_contains_the_mean():
    values = list(np.random.default_rng(0).random(200))
    low, high = bootstrap_ci(values)
    assert low < np.mean(values) < high and high - low < 0.2


def test_no_edit_leaves_everything_unchanged(tiny):
    model, tokenizer = tiny
    result = evaluate(model, tokenizer, NoEditEditor(model, 1), toy_records(6), "none", progress=False)
    for row in result["records"]:
        assert row["locality"] == 1.0
        assert row["reliability"] == row["pre_reliability"] and row["p_target"] == pytest.approx(row["pre_p_target"])
    table = markdown_table({"base": result})
    assert "| counterfact | reliability |" in table and "| counterfact | locality | 100.0 [100.0, 100.0] |" in table
