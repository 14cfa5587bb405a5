"""Every record of every shared data file loads; the real tasks' splits carry the promised probes."""
from collections import Counter

import pytest

from instructedit.data import RecordError, check_format, load_records
from instructedit.data.enrich import (
    KNOWN_FACTS_FILE,
    NEIGHBOURS_PER_RECORD,
    UNRELATED_PER_RECORD,
    known_pool,
    load_known_facts,
)
from instructedit.data.tasks import dataset_splits, load_split
from instructedit.paths import data_dir

# file -> (format, records that load, records skipped as invalid)
SHARED_FILES = {
    "knowedit_recent_train.json": ("knowedit-recent", 570, 0),
    "knowedit_counterfact_train.json": ("knowedit-counterfact", 1427, 0),
    "convsent_blender_val.json": ("convsent-blender", 799, 0),
    "convsent_blender_test.json": ("convsent-blender", 800, 0),
    "counterfact-train.json": ("counterfact", 10_000, 0),
    "counterfact-edit-1k.json": ("counterfact", 1_000, 0),
    "zsre_mend_train-1k.json": ("zsre", 998, 2),  # records 534 and 723 have an empty new target
}


@pytest.fixture(scope="module")
def shared():
    base = data_dir()
    if base is None or not all((base / f).is_file() for f in list(SHARED_FILES) + [KNOWN_FACTS_FILE]):
        pytest.skip("shared data folder absent: set INSTRUCTEDIT_DATA_DIR (default ../shared/data)")
    return base


@pytest.mark.parametrize("name", sorted(SHARED_FILES))
def test_every_record_loads(shared, name):
    fmt, count, skipped = SHARED_FILES[name]
    assert check_format(shared / name, fmt) == count + skipped
    assert len(load_records(shared / name, fmt, skip_invalid=True)) == count
    if skipped:
        with pytest.raises(RecordError):
            load_records(shared / name, fmt)
    else:  # strict, with the format detected per record
        assert len(load_records(shared / name)) == count


def test_known_facts_load(shared):
    facts = load_known_facts()
    assert len(facts) == 1209 and all(f.probe.kind == "unrelated" for f in facts)
    pools = {split: {f.probe.prompt for f in known_pool(facts, split)} for split in ("train", "validation", "test")}
    assert not pools["train"] & pools["test"] and not pools["validation"] & pools["test"]


@pytest.mark.parametrize("task", ["recent", "counterfact"])
def test_knowedit_splits_have_their_probes(shared, task):
    seen_unrelated = {}
    for split in dataset_splits(task):
        records = load_split(task, split)
        for rec in records:
            kinds = Counter(p.kind for p in rec.locality)
            assert kinds["unrelated"] == UNRELATED_PER_RECORD and kinds["neighbour"] <= NEIGHBOURS_PER_RECORD
            assert {p.kind for p in rec.portability} <= {"Reasoning", "Logical_Generalization"}
            for probe in rec.locality:
                if probe.kind == "unrelated":
                    assert rec.subject.casefold() not in probe.prompt.casefold()
                    assert seen_unrelated.setdefault(probe.prompt, split) == split  # facts never cross splits
                if probe.kind == "neighbour":
                    assert rec.subject not in probe.prompt and rec.meta["relation"]
                    assert rec.target.casefold() not in {a.casefold() for a in probe.aliases}
        assert sum(bool(r.rephrases) for r in records) > 0


def test_neighbours_share_the_relation(shared):
    records = load_split("counterfact", "test")
    subjects = {r.subject for r in records}
    for rec in records:
        for probe in (p for p in rec.locality if p.kind == "neighbour"):
            owner = [s for s in subjects if s in probe.prompt and probe.prompt.replace(s, "{}") == rec.meta["relation"]]
            assert owner, f"record {rec.record_id}: neighbour {probe.prompt!r} not of relation {rec.meta['relation']!r}"


def test_convsent_splits(shared):
    topics = {}
    for split in dataset_splits("convsent"):
        records = load_split("convsent", split)
        assert {r.label for r in records} == {"positive", "negative"}
        for rec in records:
            assert topics.setdefault(rec.topic.casefold(), split) == split
            assert rec.contrast and len(rec.rephrases) == 3 and len(rec.locality) == 2
            assert all(rec.topic not in p.prompt for p in rec.locality)


def test_loading_is_deterministic(shared):
    assert load_split("recent", "test") == load_split("recent", "test")
    assert load_split("convsent", "validation") == load_split("convsent", "validation")
