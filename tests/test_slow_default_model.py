"""Slow tier: the default model (SmolLM2-135M) with a briefly trained editor."""
import pytest

from instructedit.data.tasks import load_split
from instructedit.evaluation.evaluate import evaluate
from instructedit.training.config import TrainConfig
from instructedit.training.trainer import Trainer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def brief_editor(default_model, shared_data, tmp_path_factory):
    model, tokenizer = default_model
    config = TrainConfig(editor=dict(mode="instruct", tasks=["counterfact-rome"], rank=64), steps=120, trunk_store=False, edits_per_step=4,
                         max_train_records=200, val_records=10, eval_every=120, norm_warmup_batches=4,
                         out_dir=str(tmp_path_factory.mktemp("brief")))
    trainer = Trainer(config, model, tokenizer)
    trainer.train()
    return trainer.editor


def test_briefly_trained_editor_makes_failed_edits_succeed(default_model, brief_editor):
    model, tokenizer = default_model
    records = load_split("counterfact-rome", "test")[:20]
    result = evaluate(model, tokenizer, brief_editor, records, "seen", progress=False, generation_metrics=False)
    rows = result["records"]
    failed_before = [r for r in rows if r["pre_reliability"] < 1.0]
    assert len(failed_before) >= 18  # the base model does not know the counterfactual targets
    now_succeed = [r for r in failed_before if r["success"]]
    assert len(now_succeed) >= 5, [r["reliability"] for r in rows]
    assert result["summary"]["counterfact"]["locality"]["mean"] > 0.5
