"""The Edit tab's verdict rule and its neighbour suggestions: pure functions, no model."""
from __future__ import annotations

import json

import pytest

from instructedit.data.records import EditRecord
from workbench.ui import neighbours
from workbench.ui.form import EditRequest, parse_query, share_url
from workbench.ui.verdict import BAD, GOOD, MIXED, NeighbourText, verdict

KEPT = NeighbourText("The capital of Japan is", " Tokyo, the largest city", " Tokyo, the largest city", True)
CHANGED = NeighbourText("The capital of Peru is", " Lima", " Quito", False)
LEAK = NeighbourText("The Louvre is located in the city of", " Paris, France", " Rome, Italy", False)


@pytest.mark.parametrize("before,after,neighbours_,text,tone", [
    (" Paris, France", " Rome, Italy.", [KEPT], "now says Rome; neighbours unchanged", GOOD),
    (" Paris", " rome is a city", [], "now says Rome", GOOD),
    (" Rome.", " Rome, Italy", [KEPT], "already said Rome before the edit; neighbours unchanged", GOOD),
    (" Paris", " Rome Rome Rome Rome", [KEPT], "repeats the target; neighbours unchanged", BAD),
    (" Paris is big", " Romeo and Juliet", [KEPT], "does not say the target; neighbours unchanged", BAD),
    (" Paris", " Rome", [KEPT, CHANGED], "now says Rome; changes 1 of 2 neighbours", MIXED),
    (" Paris", " Rome", [LEAK, KEPT], "now says Rome; leaks into: “The Louvre is located in the city of”", MIXED),
    (" Paris", " Paris", [LEAK], "does not say the target; leaks into: “The Louvre is located in the city of”", BAD),
])
def test_verdict_rules(before, after, neighbours_, text, tone):
    result = verdict("Rome", before, after, neighbours_)
    assert result.text == text and result.tone == tone
    assert result.leaks == ((LEAK.prompt,) if LEAK in neighbours_ else ())


def test_verdict_loops_and_the_wrapped_prompt():
    looping = verdict("Rome", " Paris", "\nhūhūhūhūhū\nx\nx\nx", [])
    assert looping.text == "loops instead of answering" and looping.tone == BAD
    # the wrapped prompt is named only where it disagrees with the plain one
    agree = verdict("Rome", " Paris", " Rome", [], wrapped_before="Output: Paris", wrapped_after=" Rome")
    assert agree.text == "now says Rome"
    disagree = verdict("Rome", " Paris", " Paris", [], wrapped_before=" Paris", wrapped_after=" Rome")
    assert disagree.text == "does not say the target (with its instruction: now says Rome)"


def _pool(tmp_path, items) -> tuple:
    path = tmp_path / "examples.json"
    path.write_text(json.dumps(items), encoding="utf-8")
    return neighbours.fact_pool(path, with_known=False)


EXAMPLES = [
    {"task": "counterfact", "prompt": "x", "target": "y", "locality": [
        {"prompt": "The Louvre is located in the city of", "answer": "Paris"},
        {"prompt": "Big Ben is located in the city of", "answer": "London"},
        {"prompt": "The Colosseum is located in the city of", "answer": "Rome"},
        {"prompt": "The Eiffel Tower is located in the city of", "answer": "Paris"},
        {"prompt": "The capital of Japan is", "answer": "Tokyo"}]},
    {"task": "convsent", "prompt": "q", "target": "r", "locality": [{"prompt": "Do you like cats?", "answer": "Yes."}]},
]


def test_neighbours_share_the_relation_not_the_subject_or_target(tmp_path):
    pool = _pool(tmp_path, EXAMPLES)
    record = EditRecord(task="counterfact", prompt="The Eiffel Tower is located in the city of", target="Rome",
                        subject="Eiffel Tower")
    found = neighbours.suggest(record, pool)
    assert found.how.startswith("same relation") and all(p.kind == "neighbour" for p in found.probes)
    # the article before the subject is optional; the record's own subject and its target's fact are passed over
    assert {p.prompt for p in found.probes} == {"The Louvre is located in the city of", "Big Ben is located in the city of"}
    assert neighbours.suggest(record, pool) == found  # deterministic


def test_no_neighbour_falls_back_to_the_default_probes(tmp_path):
    pool = _pool(tmp_path, EXAMPLES)
    record = EditRecord(task="zsre", prompt="Which river flows through Prague?", target="Danube", subject="Prague")
    fallback = neighbours.suggest(record, pool)
    assert fallback.how.startswith("default") and all(p.kind == "unrelated" for p in fallback.probes)
    assert len(fallback.probes) == 2 and all("Prague" not in p.prompt for p in fallback.probes)
    chat = EditRecord(task="convsent", prompt="What about jazz?", target="I love it.", topic="jazz", label="positive")
    assert [p.prompt for p in neighbours.suggest(chat, pool).probes] == ["Do you like cats?"]
    empty = neighbours.fact_pool(tmp_path / "missing.json", with_known=False)
    builtin = neighbours.suggest(record, empty).probes
    assert [(p.prompt, p.answer) for p in builtin] == sorted(neighbours.DEFAULT_PROBES, key=lambda pa: neighbours._digest(
        record.prompt, pa[0]))


def test_relation_pattern_needs_the_subject_in_the_prompt():
    assert neighbours.relation_pattern("The Eiffel Tower is in", "Colosseum") is None
    assert neighbours.relation_pattern("Eiffel Tower", "Eiffel Tower") is None
    pattern = neighbours.relation_pattern("The native language of Jean Gabin is", "Jean Gabin")
    assert pattern.match("The native language of Ada Lovelace is") and not pattern.match("Ada Lovelace is")


def test_share_link_round_trip():
    form = EditRequest("The Eiffel Tower is in", "Rome & Paris?", "Eiffel Tower", paraphrases="a\nb",
                       locality="x => y", seen_index=2, third="custom", custom_instruction="Swap it.",
                       editor="instructedit", max_new_tokens=9)
    url = share_url("https://host.example/app/?prompt=old#frag", form)
    assert url.startswith("https://host.example/app/?prompt=") and "old" not in url and "frag" not in url
    assert "task=" not in url and "label=" not in url  # defaults are left out
    from urllib.parse import parse_qsl, urlsplit

    values, problems = parse_query(dict(parse_qsl(urlsplit(url).query)), ["instructedit"])
    assert problems == [] and EditRequest(**{"prompt": "", "target": "", **values}) == form


@pytest.mark.parametrize("params,problem", [
    ({"seen_index": "12"}, "Seen instruction: must be a whole number from 0 to 8"),
    ({"max_new_tokens": "lots"}, "Continuation length: must be a whole number"),
    ({"third": "sideways"}, "Third column: 'sideways' is not one of"),
    ({"label": "meh"}, "Sentiment: 'meh' is not one of"),
    ({"target": "Ro\u200bme"}, "Target: contains the invisible format character U+200B"),
    ({"prompt": "x" * 9000}, "Prompt: the link's value is 9000 characters long"),
])
def test_share_link_bad_parameters_are_named_and_skipped(params, problem):
    values, problems = parse_query({**params, "subject": "kept", "unknown": "ignored"}, ["instructedit"])
    assert values == {"subject": "kept"} and len(problems) == 1 and problems[0].startswith(problem)
