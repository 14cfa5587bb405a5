"""The frozen split definitions (assets/data/splits) and the task registry."""
import hashlib
import json

import pytest

from instructedit.data import splits as split_defs
from instructedit.data.splits import SPLIT_RULES, SPLITS_DIR, check_all, deal, group_key, read_sums
from instructedit.data.tasks import DATASETS, FORMAT_OF, SPLITS, dataset_kind, dataset_names, dataset_splits, load_split
from instructedit.paths import data_dir

EXPECTED_COUNTS = {"recent": {"train": 399, "validation": 57, "test": 114},
                   "counterfact": {"train": 998, "validation": 143, "test": 286},
                   "convsent": {"train": 679, "validation": 120, "test": 800}}


@pytest.fixture(scope="module")
def shared():
    base = data_dir()
    files = [p.file for portions in SPLIT_RULES.values() for p in portions]
    if base is None or not all((base / f).is_file() for f in files):
        pytest.skip("shared data folder absent: set INSTRUCTEDIT_DATA_DIR (default ../shared/data)")
    return base


def _definition(task):
    return json.loads((SPLITS_DIR / f"{task}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("task", sorted(SPLIT_RULES))
def test_checksums_and_counts_frozen(task):
    sums = read_sums()
    path = SPLITS_DIR / f"{task}.json"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sums[f"{task}.json"], f"{path} changed"
    definition = _definition(task)
    assert {name: s["count"] for name, s in definition["splits"].items()} == EXPECTED_COUNTS[task]
    assert all(s["count"] == len(s["indices"]) == len(set(s["indices"])) for s in definition["splits"].values())


def test_definitions_check_without_shared_data():
    assert check_all(None) == []


@pytest.mark.parametrize("task", sorted(SPLIT_RULES))
def test_no_subject_in_two_splits_and_sources_unchanged(shared, task):
    definition = _definition(task)
    owner = {}
    for file, digest in definition["sources"].items():
        assert hashlib.sha256((shared / file).read_bytes()).hexdigest() == digest, f"shared {file} changed"
    covered = {}
    for name, split in definition["splits"].items():
        raw = json.loads((shared / split["source"]).read_text(encoding="utf-8"))
        key = "ent" if task == "convsent" else "subject"
        for index in split["indices"]:
            assert owner.setdefault(group_key(raw[index][key]), name) == name, f"{raw[index][key]!r} in two splits"
        covered.setdefault(split["source"], set()).update(split["indices"])
    for file, indices in covered.items():  # every record of each source is in exactly one split
        assert indices == set(range(len(json.loads((shared / file).read_text(encoding="utf-8")))))


def test_a_fresh_build_equals_the_committed_files(shared, tmp_path):
    assert check_all(shared) == []
    split_defs.write_all(shared, tmp_path)
    for task in SPLIT_RULES:
        assert (tmp_path / f"{task}.json").read_bytes() == (SPLITS_DIR / f"{task}.json").read_bytes()
    assert (tmp_path / "SHA256SUMS").read_text() == (SPLITS_DIR / "SHA256SUMS").read_text()


def test_check_reports_a_tampered_definition(tmp_path):
    for name in [f"{task}.json" for task in SPLIT_RULES] + ["SHA256SUMS"]:
        (tmp_path / name).write_bytes((SPLITS_DIR / name).read_bytes())
    definition = json.loads((tmp_path / "recent.json").read_text())
    definition["splits"]["test"]["indices"].append(definition["splits"]["train"]["indices"][0])
    (tmp_path / "recent.json").write_text(json.dumps(definition))
    problems = check_all(None, tmp_path)
    assert any("does not match SHA256SUMS" in p for p in problems)
    assert any("is in train and test" in p for p in problems)


def test_deal_keeps_groups_whole_and_is_deterministic():
    raw = [{"subject": f"S{i % 30}"} for i in range(100)] + [{"subject": "s1 "}]
    portion = SPLIT_RULES["recent"][0]
    first, second = deal(raw, portion, "recent"), deal(raw, portion, "recent")
    assert first == second and sum(map(len, first.values())) == 101
    owner = {}
    for name, indices in first.items():
        for i in indices:
            assert owner.setdefault(group_key(raw[i]["subject"]), name) == name


def test_registry_names_kinds_and_splits():
    assert set(dataset_names()) == {"counterfact", "recent", "convsent", "zsre", "counterfact-rome",
                                    "recent-synthetic", "convsent-synthetic"}
    assert dataset_kind("recent-synthetic") == "recent" and dataset_kind("counterfact-rome") == "counterfact"
    assert dataset_splits("recent") == ("train", "validation", "test") and dataset_splits("zsre") == ("train", "test")
    assert FORMAT_OF["recent"] == "knowedit-recent"
    assert SPLITS["counterfact-rome"]["test"].file == "counterfact-edit-1k.json"
    assert all(ds.shared for name, ds in DATASETS.items() if not name.endswith("-synthetic"))
    with pytest.raises(ValueError, match="unknown task"):
        load_split("nope", "train")
    with pytest.raises(ValueError, match="unknown split"):
        load_split("zsre", "validation")


@pytest.mark.parametrize("name", ["recent-synthetic", "convsent-synthetic"])
def test_synthetic_sets_load_as_before(name):
    records = load_split(name, "train") + load_split(name, "test")
    assert records and {r.task for r in records} == {dataset_kind(name)}
