"""KnowEdit WikiData-Recent / WikiData-CounterFact loaders, format detection and the richer Probe."""
import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from instructedit.data import FORMATS, EditRecord, Probe, RecordError, check_format, detect_format, parse_records
from instructedit.data.records import PROBE_KINDS

RECENT = {
    "subject": "Royal Ontario Museum",
    "prompt": "The name of the country which Royal Ontario Museum is associated with is",
    "target_new": "Canada",
    "portability": {
        "Subject_Aliasing": [{"prompt": "The name of the country which ROM is associated with is",
                              "ground_truth": [["Canada", "CAN"]]}],
        "Reasoning": [{"prompt": "The capital of the country of Royal Ontario Museum is",
                       "ground_truth": [["Ottawa"]]}],
        "Logical_Generalization": [{"prompt": "The continent of Royal Ontario Museum is",
                                    "ground_truth": [["North America", "NA"]]}],
    },
    "locality": {
        "Relation_Specificity": [{"prompt": "The founder of Royal Ontario Museum is",
                                  "ground_truth": [["Charles Trick Currelly"], ["James Whitney"]]}],
        "Forgetfulness": [{"prompt": "The country of Royal Ontario Museum, which is not Canada, is",
                           "ground_truth": [["Canada"]]}],
    },
}
COUNTERFACT = {
    "subject": "Goursez Vreizh", "prompt": "The name of the country which Goursez Vreizh is associated with is",
    "target_new": "Franche-Comté", "ground_truth": "France",
    "portability": {
        "Reasoning": [{"prompt": "The capital of the country of Goursez Vreizh is", "ground_truth": "Besançon"}],
        "Subject_Aliasing": [{"prompt": "The name of the country which Gorsedd of Brittany is associated with is",
                              "ground_truth": "Franche-Comté"}],
    },
    "locality": {"Relation_Specificity": [{"prompt": "The name of the founder of Goursez Vreizh is",
                                           "ground_truth": "Jean Le Fustec"}]},
}
VALID = {"knowedit-recent": RECENT, "knowedit-counterfact": COUNTERFACT}


def parse_one(raw, fmt):
    [rec] = parse_records([raw], fmt, source="mem.json")
    return rec


def test_recent_categories_become_rephrases_portability_locality():
    rec = parse_one(RECENT, "knowedit-recent")
    assert rec.task == "recent" and rec.target == "Canada" and rec.ground_truth == ""
    assert rec.rephrases == ("The name of the country which ROM is associated with is",)
    assert [p.kind for p in rec.portability] == ["Reasoning", "Logical_Generalization"]
    assert rec.portability[1].aliases == ("North America", "NA") and rec.portability[1].answer == "North America"
    assert [p.kind for p in rec.locality] == ["Relation_Specificity", "Forgetfulness"]
    assert rec.locality[0].aliases == ("Charles Trick Currelly", "James Whitney")  # every answer, in order
    assert rec.meta["relation"] == "The name of the country which {} is associated with is"
    assert rec.meta["alias_mismatches"] == []


def test_counterfact_string_answers_and_ground_truth():
    rec = parse_one(COUNTERFACT, "knowedit-counterfact")
    assert rec.task == "counterfact" and rec.ground_truth == "France" and rec.subject == "Goursez Vreizh"
    assert rec.portability == (Probe("The capital of the country of Goursez Vreizh is", "Besançon", ("Besançon",),
                                     "Reasoning"),)
    assert rec.locality[0].aliases == ("Jean Le Fustec",) and len(rec.rephrases) == 1


def test_blank_counterfact_ground_truth_is_kept_empty():
    rec = parse_one(dict(COUNTERFACT, ground_truth=""), "knowedit-counterfact")
    assert rec.ground_truth == ""


def test_record_without_portability_or_locality():
    raw = {k: v for k, v in RECENT.items() if k != "portability"}
    rec = parse_one(raw, "knowedit-recent")
    assert rec.portability == () and rec.rephrases == () and len(rec.locality) == 2
    rec = parse_one(dict(raw, locality={}, portability={}), "knowedit-recent")
    assert rec.locality == () and rec.portability == ()


def test_flattened_variant():
    raw = copy.deepcopy(RECENT)
    raw["portability"] = {"Reasoning": {"prompt": ["Q1 about the museum is", "Q2 about the museum is"],
                                        "ground_truth": [["Ottawa", "Bytown"], "Toronto"]},
                          "Subject_Aliasing": {"prompt": ["The country of ROM is"], "ground_truth": [["Canada"]]}}
    raw["locality"] = {"Relation_Specificity": {"prompt": ["The founder of the museum is"],
                                                "ground_truth": ["Charles Trick Currelly", "C. T. Currelly"]}}
    rec = parse_one(raw, "knowedit-recent")
    assert [(p.prompt, p.aliases) for p in rec.portability] == [("Q1 about the museum is", ("Ottawa", "Bytown")),
                                                               ("Q2 about the museum is", ("Toronto",))]
    assert rec.rephrases == ("The country of ROM is",)
    assert rec.locality[0].aliases == ("Charles Trick Currelly", "C. T. Currelly")  # one prompt: its aliases


def test_flattened_variant_with_wrong_answer_count_names_the_field():
    raw = dict(RECENT, portability={"Reasoning": {"prompt": ["a is", "b is"], "ground_truth": [["x"], ["y"], ["z"]]}})
    with pytest.raises(RecordError, match=r"record 0, field 'portability\.Reasoning\.ground_truth'.*one answer per"):
        parse_one(raw, "knowedit-recent")


def test_subject_aliasing_with_another_label_of_the_target_is_kept_and_listed():
    raw = copy.deepcopy(COUNTERFACT)
    raw["target_new"] = "cisgender woman"
    raw["portability"]["Subject_Aliasing"][0]["ground_truth"] = "cisgender female"
    rec = parse_one(raw, "knowedit-counterfact")
    assert len(rec.rephrases) == 1
    assert rec.meta["alias_mismatches"] == [[rec.rephrases[0], "cisgender female"]]


@pytest.mark.parametrize("mutate,field", [
    (lambda r: r["locality"].update(Unknown_Kind=[]), "locality.Unknown_Kind"),
    (lambda r: r.update(portability=[1]), "portability"),
    (lambda r: r["locality"]["Relation_Specificity"][0].update(ground_truth=[]),
     "locality.Relation_Specificity[0].ground_truth"),
    (lambda r: r["locality"]["Relation_Specificity"][0].update(ground_truth=[[["a"]]]),
     "locality.Relation_Specificity[0].ground_truth"),
    (lambda r: r["locality"]["Relation_Specificity"][0].update(ground_truth=[[" "]]),
     "locality.Relation_Specificity[0].ground_truth"),
    (lambda r: r["portability"]["Reasoning"][0].pop("prompt"), "portability.Reasoning[0].prompt"),
    (lambda r: r["portability"]["Reasoning"][0].pop("ground_truth"), "portability.Reasoning[0].ground_truth"),
    (lambda r: r["portability"]["Reasoning"].append("text"), "portability.Reasoning[1]"),
    (lambda r: r.update(target_new=""), "target_new"),
    (lambda r: r.pop("subject"), "subject"),
])
def test_errors_name_the_field(mutate, field):
    raw = copy.deepcopy(RECENT)
    mutate(raw)
    with pytest.raises(RecordError) as err:
        parse_one(raw, "knowedit-recent")
    assert "mem.json" in str(err.value) and "record 0" in str(err.value) and f"field '{field}'" in str(err.value)


def test_detect_format_tells_the_knowedit_formats_from_the_older_ones():
    assert detect_format(RECENT) == "knowedit-recent"
    assert detect_format({k: v for k, v in RECENT.items() if k != "locality"}) == "knowedit-recent"
    assert detect_format(COUNTERFACT) == "knowedit-counterfact"
    assert detect_format(dict(RECENT, rephrase=["x"])) == "recent"  # the project's synthetic set
    assert detect_format({"prompt": "p", "target_new": "t", "ground_truth": "g", "rephrase_prompt": "r",
                          "locality_prompt": "l", "locality_ground_truth": "a"}) == "counterfact"
    assert detect_format({"ent": "jazz", "pos": ["ok"], "neg": ["no"]}) == "convsent-blender"


def test_check_format_names_file_record_and_field(tmp_path):
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps([RECENT, RECENT, COUNTERFACT]))
    with pytest.raises(RecordError) as err:
        check_format(path, "knowedit-recent")
    assert "mixed.json" in str(err.value) and "record 2" in str(err.value) and "'ground_truth'" in str(err.value)
    assert "knowedit-counterfact" in str(err.value)
    path.write_text(json.dumps([RECENT, 5]))
    with pytest.raises(RecordError, match="record 1: format not recognised"):
        check_format(path, "knowedit-recent")
    path.write_text(json.dumps([COUNTERFACT]))
    assert check_format(path, "knowedit-counterfact") == 1
    with pytest.raises(ValueError, match="unknown data format"):
        check_format(path, "nope")


def test_probe_is_backwards_compatible_and_validated():
    assert Probe("p", "a") == Probe("p", "a", (), "")
    EditRecord(task="recent", prompt="p", target="t", locality=(Probe("q", "a", ("a", "b"), "neighbour"),))
    bad = [(Probe("q", "a", ("b", "a")), "locality[0].aliases"), (Probe("q", "a", ["a"]), "locality[0].aliases"),
           (Probe("q", "a", ("a", "")), "locality[0].aliases[1]"), (Probe("q", "a", kind="other"), "locality[0].kind")]
    for probe, field in bad:
        with pytest.raises(RecordError) as err:
            EditRecord(task="recent", prompt="p", target="t", locality=(probe,))
        assert f"field '{field}'" in str(err.value)
    assert set(PROBE_KINDS) >= {"Subject_Aliasing", "Reasoning", "Logical_Generalization", "Relation_Specificity",
                                "Forgetfulness", "unrelated", "neighbour"}


JUNK = st.one_of(st.text(max_size=20), st.integers(), st.none(), st.booleans(), st.just(""), st.just("  "),
                 st.just("x" * 25_000), st.lists(st.text(max_size=5), max_size=3),
                 st.lists(st.lists(st.text(max_size=5), max_size=2), max_size=2),
                 st.dictionaries(st.text(max_size=8), st.text(max_size=5), max_size=2))


def _paths(value, prefix=()):
    """Every (path) to a value inside nested dicts / lists, the root excluded."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield prefix + (key,)
        yield from _paths(child, prefix + (key,))


@pytest.mark.parametrize("fmt", sorted(VALID))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_records_give_a_record_error(fmt, data):
    """Any value at any depth replaced by junk or removed: a RecordError naming file and record, or a valid record."""
    raw = copy.deepcopy(VALID[fmt])
    path = data.draw(st.sampled_from(list(_paths(raw))))
    parent = raw
    for key in path[:-1]:
        parent = parent[key]
    if data.draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(JUNK)
    try:
        rec = parse_one(raw, fmt)
    except RecordError as err:
        assert "mem.json" in str(err) and "record 0" in str(err) and err.field_name
    else:
        assert rec.prompt.strip() and rec.target.strip() and all(p.answer == p.aliases[0] for p in rec.locality)


@given(st.one_of(st.integers(), st.text(), st.lists(st.integers(), max_size=3), st.none(),
                 st.dictionaries(st.text(max_size=5), JUNK, max_size=4)))
def test_arbitrary_records_give_a_record_error(raw):
    for fmt in [*VALID, None]:  # None: the format detected from the record
        try:
            parse_one(raw, fmt)
        except RecordError as err:
            assert "record 0" in str(err)


def test_every_format_is_registered():
    assert {"knowedit-recent", "knowedit-counterfact", "convsent-blender"} <= set(FORMATS)
