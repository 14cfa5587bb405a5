"""Slow tier: the shipped `instructedit` editor, re-evaluated here, gives the committed per-record values
of `assets/results/figure3.json` (seen instruction, the real Recent test split): every token metric on
12 records, and the generation metrics with their texts on the first 6 (one evaluation each half)."""
import json

import pytest

from instructedit.data.tasks import load_split
from instructedit.editor.editor import Editor
from instructedit.evaluation.evaluate import evaluate
from instructedit.paths import ASSETS_DIR

pytestmark = pytest.mark.slow
RECORDS, GENERATED = 12, 6
TOKEN_METRICS = ("reliability", "pre_reliability", "generalization", "locality", "portability")
GENERATION_METRICS = ("gen_reliability", "gen_reliability_plain", "gen_generalization", "gen_locality", "gen_leaks",
                      "degenerate", "post_text", "post_text_plain")


@pytest.fixture(scope="module")
def committed():
    figure3 = json.loads((ASSETS_DIR / "results" / "figure3.json").read_text())
    rows = [r for r in figure3["instructedit (seen)"]["records"] if r["task"] == "recent"][:RECORDS]
    assert len(rows) == RECORDS
    return rows


@pytest.fixture(scope="module")
def evaluated(default_model, shared_data) -> list[dict]:
    """The first GENERATED records with the generation metrics, the rest of RECORDS with token metrics only."""
    model, tokenizer = default_model
    editor = Editor.load(ASSETS_DIR / "editors" / "instructedit", model)
    records = load_split("recent", "test")[:RECORDS]
    rows = []
    for part, generation in ((records[:GENERATED], True), (records[GENERATED:], False)):
        rows += evaluate(model, tokenizer, editor, part, "seen", generation_metrics=generation, progress=False)["records"]
    return rows


def test_token_metrics_match_the_committed_records(evaluated, committed):
    assert [r["record_id"] for r in evaluated] == [r["record_id"] for r in committed]
    for got, want in zip(evaluated, committed):
        for metric in TOKEN_METRICS:
            assert got[metric] == pytest.approx(want[metric], abs=1e-6), (got["record_id"], metric)
        assert got["success"] == want["success"]
        assert got["p_target"] == pytest.approx(want["p_target"], rel=1e-3, abs=1e-7), got["record_id"]


def test_generation_metrics_match_the_committed_records(evaluated, committed):
    for got, want in zip(evaluated[:GENERATED], committed):
        for metric in GENERATION_METRICS:
            assert got[metric] == want[metric], (got["record_id"], metric)
