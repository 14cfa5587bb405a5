"""Split-level enrichment: locality probes that need more than one record, added by the task registry.

- `unrelated-known`: per record UNRELATED_PER_RECORD facts from ROME's `known_1000.json` (kind "unrelated"),
  never about the record's subject. The known facts are dealt to the splits by a hash of their subject
  (70 / 10 / 20 %), so a fact never probes records of two splits.
- `neighbours`: per record NEIGHBOURS_PER_RECORD facts of the same relation about another subject of the
  same split (kind "neighbour"): the other records' Relation_Specificity probes and, where the data has it,
  their own prompt with the true answer. The relation is the prompt with the subject replaced by `{}`.
- `convsent-locality`: per ConvSent record CONVSENT_LOCALITY_PER_RECORD questions about other entities of
  the same split, answered with that record's target response (kind "unrelated").

Every choice is a deterministic function of a seed and the record's task and id (SHA-256, not `hash`).
"""
from __future__ import annotations

import dataclasses
import hashlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..paths import data_file
from .fields import Fields
from .knowedit import relation_template
from .loaders import read_json_list
from .records import EditRecord, Probe, RecordError, check_text

ENRICH_SEED = 2024
UNRELATED_PER_RECORD = 2
NEIGHBOURS_PER_RECORD = 1
CONVSENT_LOCALITY_PER_RECORD = 2
KNOWN_FACTS_FILE = "known_1000.json"
KNOWN_BUCKETS = {"train": range(7), "validation": range(7, 8), "test": range(8, 10)}


@dataclass(frozen=True)
class EnrichContext:
    """Which split the records are (picks the known-fact pool; "" = all facts) and where the facts are."""

    split: str = ""
    seed: int = ENRICH_SEED
    known_facts: str = ""  # a known_1000-format file; "" = the shared data's known_1000.json


@dataclass(frozen=True)
class KnownFact:
    subject: str
    probe: Probe


def _digest(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode("utf-8")).digest()[:8], "big")


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


def _known_fact(raw: object) -> KnownFact:
    f = Fields(raw)
    subject, prompt, answer = f.text("subject"), f.text("prompt"), f.text("attribute")
    for name, value in (("subject", subject), ("prompt", prompt), ("attribute", answer)):
        check_text(value, name)
    return KnownFact(subject, Probe(prompt, answer, (answer,), kind="unrelated"))


@lru_cache(maxsize=4)
def load_known_facts(path: str = "") -> tuple[KnownFact, ...]:
    """ROME known facts (`subject, prompt, attribute`) as unrelated probes; errors name file, record, field."""
    source = Path(path) if path else data_file(KNOWN_FACTS_FILE)
    facts = []
    for index, raw in enumerate(read_json_list(source)):
        try:
            facts.append(_known_fact(raw))
        except RecordError as err:
            raise RecordError(err.args[0].split(": ", 1)[-1], source=str(source), index=index,
                              field_name=err.field_name) from None
    return tuple(facts)


def known_pool(facts: tuple[KnownFact, ...], split: str) -> list[KnownFact]:
    if split not in KNOWN_BUCKETS:
        return list(facts)
    return [fact for fact in facts if _digest("known", _norm(fact.subject)) % 10 in KNOWN_BUCKETS[split]]


def _about(record: EditRecord, fact: KnownFact) -> bool:
    """Whether a known fact could be about the record's subject (or the record about the fact's)."""
    subject = _norm(record.subject)
    return (_norm(fact.subject) in _norm(record.prompt) or (subject and subject in _norm(fact.probe.prompt))
            or fact.probe.prompt == record.prompt)


def _pick(n: int, count: int, keys: tuple, accept: Callable[[int], bool]) -> list[int]:
    """Up to `count` distinct indices of range(n): per draw a hash start, then the next acceptable one."""
    chosen: list[int] = []
    for draw in range(count):
        start = _digest(*keys, draw) % n if n else 0
        index = next((i % n for i in range(start, start + n) if i % n not in chosen and accept(i % n)), None)
        if index is None:
            break
        chosen.append(index)
    return chosen


def add_unrelated_known(records: list[EditRecord], context: EnrichContext) -> list[EditRecord]:
    pool = known_pool(load_known_facts(context.known_facts), context.split)
    out = []
    for rec in records:
        picked = _pick(len(pool), UNRELATED_PER_RECORD, (context.seed, "unrelated", rec.task, rec.record_id),
                       lambda i, rec=rec: not _about(rec, pool[i]))
        out.append(dataclasses.replace(rec, locality=rec.locality + tuple(pool[i].probe for i in picked)))
    return out


@dataclass(frozen=True)
class _Neighbour:
    subject: str
    probe: Probe


def _neighbour_index(records: list[EditRecord]) -> dict[str, list[_Neighbour]]:
    """Relation template -> facts of other subjects: Relation_Specificity probes and true-answer prompts."""
    index: dict[str, list[_Neighbour]] = defaultdict(list)
    for rec in records:
        facts = [p for p in rec.locality if p.kind == "Relation_Specificity"]
        if rec.ground_truth:
            facts.append(Probe(rec.prompt, rec.ground_truth, (rec.ground_truth,)))
        for probe in facts:
            template = relation_template(probe.prompt, rec.subject)
            if template:
                index[template].append(_Neighbour(_norm(rec.subject), dataclasses.replace(probe, kind="neighbour")))
    return index


def add_neighbours(records: list[EditRecord], context: EnrichContext) -> list[EditRecord]:
    index = _neighbour_index(records)
    out = []
    for rec in records:
        template = relation_template(rec.prompt, rec.subject)
        target = _norm(rec.target)
        candidates = [c for c in index.get(template, ()) if c.subject != _norm(rec.subject)
                      and target not in {_norm(a) for a in c.probe.aliases}]
        ranked = sorted(candidates, key=lambda c, rec=rec: _digest(context.seed, "neighbour", rec.task,
                                                                   rec.record_id, c.probe.prompt))
        extra = tuple(c.probe for c in ranked[:NEIGHBOURS_PER_RECORD])
        out.append(dataclasses.replace(rec, locality=rec.locality + extra))
    return out


def add_convsent_locality(records: list[EditRecord], context: EnrichContext) -> list[EditRecord]:
    out = []
    for rec in records:
        picked = _pick(len(records), CONVSENT_LOCALITY_PER_RECORD, (context.seed, "convsent", rec.record_id),
                       lambda i, rec=rec: _norm(records[i].topic) != _norm(rec.topic))
        extra = tuple(Probe(records[i].prompt, records[i].target, (records[i].target,), kind="unrelated")
                      for i in picked)
        out.append(dataclasses.replace(rec, locality=rec.locality + extra))
    return out


ENRICHERS: dict[str, Callable[[list[EditRecord], EnrichContext], list[EditRecord]]] = {
    "unrelated-known": add_unrelated_known,
    "neighbours": add_neighbours,
    "convsent-locality": add_convsent_locality,
}


def enrich_records(records: list[EditRecord], steps: tuple[str, ...], context: EnrichContext) -> list[EditRecord]:
    """Apply enrichment steps in order (neighbours read Relation_Specificity probes, so order is free)."""
    for step in steps:
        if step not in ENRICHERS:
            raise ValueError(f"unknown enrichment step {step!r}; expected one of {', '.join(ENRICHERS)}")
        records = ENRICHERS[step](records, context)
    return records
