"""SERAC ConvSent (`{ent, pos, neg}`) loader: seeded templates, label, target and contrast; its locality step."""
import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from instructedit.data import RecordError, parse_records
from instructedit.data.convsent import CONTRAST_CAP, PROMPTS_PER_RECORD, QUESTION_TEMPLATES
from instructedit.data.enrich import CONVSENT_LOCALITY_PER_RECORD, EnrichContext, add_convsent_locality

BLENDER = {"ent": "Esparto, California",
           "pos": [" I love California. ", " I like it. ", " It has a nice vibe to it. ", " I like it. "],
           "neg": [" I'm not a fan. ", " It is very bland to me. ", " I did not enjoy it. ", " Not for me. ",
                   " Too hot. ", " Too far. "]}


def parse(raws):
    return parse_records(raws, "convsent-blender", source="mem.json")


def test_record_is_seeded_by_the_entity():
    [rec] = parse([BLENDER])
    assert rec.task == "convsent" and rec.topic == rec.subject == "Esparto, California"
    assert rec.label in ("positive", "negative")
    prompts = (rec.prompt,) + rec.rephrases
    assert len(prompts) == PROMPTS_PER_RECORD == len(set(prompts))
    assert all(p in {t.format(ent=rec.topic) for t in QUESTION_TEMPLATES} for p in prompts)
    mine, other = ("pos", "neg") if rec.label == "positive" else ("neg", "pos")
    assert rec.target in {r.strip() for r in BLENDER[mine]}
    assert set(rec.contrast) <= {r.strip() for r in BLENDER[other]}
    assert len(rec.contrast) == min(CONTRAST_CAP, len({r.strip() for r in BLENDER[other]}))
    # the same entity always gets the same draw, wherever it is in the file
    [again] = parse([dict(BLENDER, pos=list(BLENDER["pos"]))])
    draw = (again.label, again.prompt, again.target, again.contrast)
    assert draw == (rec.label, rec.prompt, rec.target, rec.contrast)


def test_labels_vary_over_entities():
    records = parse([dict(BLENDER, ent=f"Entity {i}") for i in range(40)])
    assert {r.label for r in records} == {"positive", "negative"}
    assert len({r.prompt.replace(r.topic, "{}") for r in records}) > 3


@pytest.mark.parametrize("mutate,field", [
    (lambda r: r.update(pos=[]), "pos"),
    (lambda r: r.update(neg=["  "]), "neg"),
    (lambda r: r.update(pos="I like it"), "pos"),
    (lambda r: r.update(neg=[" ok ", 3]), "neg[1]"),
    (lambda r: r.pop("ent"), "ent"),
    (lambda r: r.update(ent=" "), "ent"),
    (lambda r: r.update(ent="x" * 19_990), "ent"),
])
def test_errors_name_the_field(mutate, field):
    raw = copy.deepcopy(BLENDER)
    mutate(raw)
    with pytest.raises(RecordError) as err:
        parse([raw])
    assert "mem.json" in str(err.value) and "record 0" in str(err.value) and f"field '{field}'" in str(err.value)


JUNK = st.one_of(st.text(max_size=20), st.integers(), st.none(), st.just(""), st.just("x" * 25_000),
                 st.lists(st.one_of(st.text(max_size=10), st.integers(), st.just("x" * 25_000)), max_size=3),
                 st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=2))


@settings(max_examples=200, deadline=None)
@given(key=st.sampled_from(["ent", "pos", "neg", "extra"]), value=JUNK, remove=st.booleans())
def test_mutated_records_give_a_record_error(key, value, remove):
    raw = copy.deepcopy(BLENDER)
    if remove:
        raw.pop(key, None)
    else:
        raw[key] = value
    try:
        [rec] = parse([raw])
    except RecordError as err:
        assert "mem.json" in str(err) and "record 0" in str(err) and err.field_name
    else:
        assert rec.prompt.strip() and rec.target.strip() and rec.contrast


def test_locality_asks_about_other_entities_of_the_same_records():
    records = parse([dict(BLENDER, ent=f"Entity {i}") for i in range(6)] + [BLENDER, BLENDER])
    enriched = add_convsent_locality(records, EnrichContext(split="test"))
    assert enriched == add_convsent_locality(records, EnrichContext(split="test"))  # deterministic
    by_prompt = {r.prompt: r for r in records}
    for rec in enriched:
        assert len(rec.locality) == CONVSENT_LOCALITY_PER_RECORD
        for probe in rec.locality:
            other = by_prompt[probe.prompt]
            assert probe.kind == "unrelated" and other.topic != rec.topic and probe.answer == other.target


def test_locality_with_a_single_entity_adds_nothing():
    [rec] = add_convsent_locality(parse([BLENDER, BLENDER])[:1], EnrichContext())
    assert rec.locality == ()
