import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from instructedit.data import FORMATS, RecordError, load_records, parse_records
from instructedit.data.tasks import load_split

VALID = {
    "counterfact": {"case_id": 1, "prompt": "Toko Yasuda, the", "target_new": "piano", "subject": "Toko Yasuda",
                    "ground_truth": "guitar", "rephrase_prompt": "Toko Yasuda is incredible at",
                    "locality_prompt": "John Lennon performs on the", "locality_ground_truth": "guitar"},
    "zsre": {"subject": "UniFirst", "src": "What is the product made by UniFirst?", "pred": "uniform",
             "rephrase": "What will be the product of UniFirst?", "alt": "unmanned aircraft", "answers": ["uniform"],
             "loc": "nq question: who wrote hamlet", "loc_ans": "Shakespeare"},
    "recent": {"subject": "X", "prompt": "The winner of the 2024 Tour de France was", "target_new": "Tadej Pogačar",
               "rephrase": ["Who won the 2024 Tour de France?"],
               "portability": {"Reasoning": [{"prompt": "The nationality of the 2024 winner is",
                                              "ground_truth": [["Slovenian"]]}]},
               "locality": {"Relation_Specificity": [{"prompt": "The capital of France is", "ground_truth": [["Paris"]]}]}},
    "convsent": {"id": "c1", "topic": "jazz", "label": "positive", "prompts": ["What do you think of jazz?", "Jazz?"],
                 "responses": {"positive": ["I love jazz."], "negative": ["I dislike jazz."]},
                 "locality": [{"prompt": "What about tea?", "answer": "Tea is fine."}]},
    "knowedit-recent": {"subject": "Ingrīda Amantova", "prompt": "The gender of Ingrīda Amantova is",
                        "target_new": "female", "portability": {},
                        "locality": {"Relation_Specificity": [{"prompt": "The occupation of Ingrīda Amantova is",
                                                               "ground_truth": [["luger"]]}]}},
    "knowedit-counterfact": {"subject": "Goursez Vreizh", "target_new": "Franche-Comté", "ground_truth": "France",
                             "prompt": "The name of the country which Goursez Vreizh is associated with is",
                             "portability": {"Subject_Aliasing": [
                                 {"prompt": "The name of the country which Gorsedd of Brittany is associated with is",
                                  "ground_truth": "Franche-Comté"}]},
                             "locality": {"Relation_Specificity": [{"prompt": "The name of the founder of Goursez "
                                                                    "Vreizh is", "ground_truth": "Jean Le Fustec"}]}},
    "convsent-blender": {"ent": "Esparto, California", "pos": [" I love it. "], "neg": [" I dislike it. "]},
}
KIND = {"knowedit-recent": "recent", "knowedit-counterfact": "counterfact", "convsent-blender": "convsent"}


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_valid_record_each_format(fmt, tmp_path):
    path = tmp_path / f"{fmt}.json"
    path.write_text(json.dumps([VALID[fmt]]))
    [rec] = load_records(path)  # format detected
    assert rec.task == KIND.get(fmt, fmt) and rec.prompt and rec.target
    assert rec.locality or fmt == "convsent-blender"  # its locality probes come from the task registry
    if fmt == "zsre":
        assert rec.locality[0].prompt == "who wrote hamlet"  # prefix stripped
    if fmt == "recent":
        assert rec.portability[0].answer == "Slovenian"
    if fmt == "convsent":
        assert rec.target == "I love jazz." and rec.contrast == ("I dislike jazz.",) and rec.rephrases == ("Jazz?",)


def test_error_names_file_index_field(tmp_path):
    bad = dict(VALID["counterfact"], target_new=7)
    path = tmp_path / "cf.json"
    path.write_text(json.dumps([VALID["counterfact"], bad]))
    with pytest.raises(RecordError) as err:
        load_records(path, "counterfact")
    assert "cf.json" in str(err.value) and "record 1" in str(err.value) and "target_new" in str(err.value)


def test_malformed_json_and_not_a_list(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("[{")
    with pytest.raises(RecordError, match="not valid JSON"):
        load_records(path)
    path.write_text("{}")
    with pytest.raises(RecordError, match="JSON list"):
        load_records(path)


text = st.one_of(st.text(max_size=30), st.integers(), st.none(), st.lists(st.text(max_size=5), max_size=2),
                 st.just(""), st.just("   "), st.just("x" * 25_000))


@pytest.mark.parametrize("fmt", list(FORMATS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_records_give_a_record_error(fmt, data):
    """Any field replaced by junk (wrong type, empty, huge) or removed: a RecordError or a valid record."""
    raw = dict(VALID[fmt])
    key = data.draw(st.sampled_from(sorted(raw)))
    if data.draw(st.booleans()):
        del raw[key]
    else:
        raw[key] = data.draw(text)
    try:
        [rec] = parse_records([raw], fmt, source="mem.json")
    except RecordError as err:
        assert "mem.json" in str(err) and "record 0" in str(err)
    else:
        assert rec.prompt.strip() and rec.target.strip()


@given(st.one_of(st.integers(), st.text(), st.lists(st.integers(), max_size=3), st.none()))
def test_non_object_records(raw):
    with pytest.raises(RecordError, match="record 0"):
        parse_records([raw], "counterfact", source="mem.json")


@pytest.mark.parametrize("name,fmt,count", [("counterfact-train.json", "counterfact", 10_000),
                                            ("counterfact-edit-1k.json", "counterfact", 1_000),
                                            ("zsre_mend_train-1k.json", "zsre", 998)])
def test_shared_files_load(shared_data, name, fmt, count):
    records = load_records(shared_data / name, fmt, skip_invalid=True)
    # zsRE holds 2 records with an empty new target (indices 534 and 723): they cannot be edits
    assert len(records) == count


def test_zsre_strict_load_names_the_empty_target(shared_data):
    with pytest.raises(RecordError, match="record 534, field 'target'"):
        load_records(shared_data / "zsre_mend_train-1k.json", "zsre")


def test_zsre_held_out_split_is_the_last_500(shared_data):
    test = load_split("zsre", "test")
    assert min(int(r.record_id) for r in test) == 500 and len(test) == 498  # records 534 and 723 are empty
