"""Slow tier: every shipped editor, on the model it was trained for, makes an example edit succeed."""
import json

import pytest

from instructedit.api import edit_and_report
from instructedit.data.records import EditRecord, Probe
from instructedit.editor.editor import Editor
from instructedit.paths import ASSETS_DIR

pytestmark = pytest.mark.slow
SHIPPED = sorted(p.name for p in (ASSETS_DIR / "editors").iterdir() if (p / "editor.json").is_file())


def _record(example: dict) -> EditRecord:
    return EditRecord(task=example["task"], prompt=example["prompt"], target=example["target"],
                      record_id=example["name"], subject=example["subject"], rephrases=tuple(example["rephrases"]),
                      locality=tuple(Probe(p["prompt"], p["answer"]) for p in example["locality"]),
                      topic=example["topic"], label=example["label"])


def test_the_suite_is_shipped():
    assert {"instructedit", "mend-multitask", "mend-single-counterfact", "mend-single-recent",
            "mend-single-zsre"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_editor_makes_an_example_edit_succeed(default_model, name):
    model, tokenizer = default_model
    editor = Editor.load(ASSETS_DIR / "editors" / name, model)  # checks the base-weight fingerprint
    examples = json.loads((ASSETS_DIR / "examples.json").read_text())
    trained_on = [e for e in examples if e["task"] in editor.config.tasks]
    assert trained_on, f"assets/examples.json has no example of {editor.config.tasks}"
    outcomes = {}
    for example in trained_on:
        scores = edit_and_report(model, tokenizer, editor, _record(example), "seen", max_new_tokens=1).scores
        outcomes[example["name"]] = (scores["pre_reliability"], scores["reliability"])
        if scores["pre_reliability"] < 1.0 and scores["success"]:
            return
    pytest.fail(f"{name}: no example edit went from failing to succeeding: {outcomes}")
