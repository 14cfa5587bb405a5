import json

import pytest

from instructedit.instructions import CATALOG, TASK_NAMES, Instruction, describe, load_instruction_set, render


def test_catalog_has_ten_distinct_per_task():
    assert set(CATALOG) == {"counterfact", "recent", "convsent", "zsre"}
    for task, items in CATALOG.items():
        assert len(items) == 10 and len(set(items)) == 10, task
    assert all("[LABEL]" in d and "[TOPIC]" in d for d in CATALOG["convsent"])


def test_template_three_lines():
    text = render("The Eiffel Tower is in", "counterfact", CATALOG["counterfact"][0])
    lines = text.split("\n")
    assert lines[0] == "Task: CounterFact" and lines[1].startswith("Description: ")
    assert lines[2] == "Input: The Eiffel Tower is in"
    assert [TASK_NAMES[t] for t in ("counterfact", "recent", "convsent", "zsre")] == ["CounterFact", "Recent", "ConvSent", "ZsRE"]


def test_convsent_placeholders_filled():
    text = render("What do you think of jazz?", "convsent", CATALOG["convsent"][0], topic="jazz", label="negative")
    assert "[LABEL]" not in text and "[TOPIC]" not in text and "negative" in text and "jazz" in text


@pytest.mark.parametrize("value,expected", [("seen", 0), ("unseen", 9), ("3", 3), (7, 7)])
def test_parse_named_and_indexed(value, expected):
    assert Instruction.parse(value).index == expected


def test_parse_none_and_text():
    assert Instruction.parse("none").is_none and Instruction.parse(None).is_none
    assert describe("recent", Instruction.parse("Do the thing."), None) == "Do the thing."
    assert render("p", "recent", None) == "p"


@pytest.mark.parametrize("bad", [dict(index=10), dict(text="  "), dict(text="x" * 600), dict(index=1, text="a")])
def test_bad_instruction_rejected(bad):
    with pytest.raises(ValueError, match="instruction"):
        Instruction(**bad)


def test_instruction_set_file(tmp_path):
    path = tmp_path / "set.json"
    path.write_text(json.dumps({"recent": [f"d{i}" for i in range(10)]}))
    assert load_instruction_set(path)["recent"][9] == "d9"
    path.write_text(json.dumps({"recent": ["only one"]}))
    with pytest.raises(ValueError, match="exactly 10"):
        load_instruction_set(path)
