"""The project-written Recent and ConvSent sets meet their specification; the test splits are frozen."""
import hashlib
import json
from collections import Counter

import pytest

from instructedit.data.tasks import load_split
from instructedit.paths import ASSETS_DIR

DATA = ASSETS_DIR / "data"


def _raw(task: str, split: str) -> list[dict]:
    return json.loads((DATA / task / f"{split}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("task", ["recent", "convsent"])
def test_checksums_frozen(task):
    sums = dict(reversed(line.split()) for line in (DATA / "SHA256SUMS").read_text().splitlines() if line.strip())
    for split in ("train", "test"):
        name = f"{task}/{split}.json"
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == sums[name], f"{name} changed"


def test_recent_specification():
    train, test = _raw("recent", "train"), _raw("recent", "test")
    records = train + test
    assert len(records) >= 300 and 90 <= len(test) <= 100  # 100 less the records the base model guesses
    assert len({r["relation"] for r in records}) >= 30
    assert len({r["prompt"] for r in records}) == len(records)
    assert len({(r["subject"], r["relation"]) for r in records}) == len(records)
    templates = Counter(r["prompt"].replace(r["subject"], "{}") for r in records)
    assert templates.most_common(1)[0][1] <= 0.10 * len(records)
    assert not {r["subject"] for r in train} & {r["subject"] for r in test}
    assert all(r.get("synthetic") is True for r in records)
    for rec in load_split("recent-synthetic", "train") + load_split("recent-synthetic", "test"):
        assert 1 <= len(rec.rephrases) <= 2 and 1 <= len(rec.locality) <= 2 and len(rec.portability) == 1


def test_convsent_specification():
    train, test = _raw("convsent", "train"), _raw("convsent", "test")
    records = train + test
    assert len(records) >= 300
    topics = Counter(r["topic"] for r in records)
    assert len(topics) >= 150
    assert not {r["topic"] for r in train} & {r["topic"] for r in test}
    for rec in load_split("convsent-synthetic", "train") + load_split("convsent-synthetic", "test"):
        assert rec.label in ("positive", "negative") and rec.contrast and len(rec.rephrases) >= 2
        assert all(probe.prompt != rec.prompt for probe in rec.locality)
    prompts = Counter(q.replace(r["topic"], "{}") for r in records for q in r["prompts"])
    assert prompts.most_common(1)[0][1] <= 0.10 * sum(prompts.values())


def test_examples_file_loads_as_records():
    from instructedit.data.records import EditRecord, Probe

    examples = json.loads((ASSETS_DIR / "examples.json").read_text(encoding="utf-8"))
    assert {"counterfact", "recent", "convsent"} <= {e["task"] for e in examples} <= {"counterfact", "recent",
                                                                                       "convsent", "zsre"}
    for e in examples:
        EditRecord(task=e["task"], prompt=e["prompt"], target=e["target"], subject=e.get("subject", ""),
                   rephrases=tuple(e.get("rephrases", ())), topic=e.get("topic", ""), label=e.get("label", ""),
                   locality=tuple(Probe(p["prompt"], p["answer"]) for p in e.get("locality", ())))
