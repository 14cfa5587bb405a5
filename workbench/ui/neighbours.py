"""Locality probes suggested when the user gives none: neighbours of the same relation, else unrelated facts.

No model call: the candidates are facts the app already has on disk, indexed once per app.

- Sources: the examples file's locality probes (`assets/examples.json`), and, where the shared data folder
  has it, ROME's `known_1000.json` (true facts with their subject; `instructedit.data.enrich`).
- Neighbours (kind "neighbour"): facts whose prompt has the edit prompt's relation with another subject in
  its place. The relation is the prompt with the subject replaced by `{}` (`knowedit.relation_template`),
  a leading "the" before the subject optional ("The {} is located in the country of" matches "Mount
  Kenya is located in the country of"). Facts whose answer is the edit's target are passed over.
- Otherwise the default probes (kind "unrelated"): the examples' locality probes of the same kind of task
  that do not mention the subject, else DEFAULT_PROBES.

Choices are deterministic (SHA-256 of the edit prompt and the candidate), so a link gives the same probes.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from instructedit.data.knowedit import relation_template
from instructedit.data.records import EditRecord, Probe, RecordError

log = logging.getLogger(__name__)

SUGGESTED = 2
DEFAULT_PROBES = (("The capital of Japan is", "Tokyo"), ("The Mona Lisa was painted by", "Leonardo da Vinci"))
_ARTICLE = re.compile(r"^(the|a|an)\s+", re.IGNORECASE)


@dataclass(frozen=True)
class Fact:
    prompt: str
    answer: str
    conversational: bool  # a ConvSent probe (a question answered by a reply), not a knowledge fact
    source: str
    subject: str = ""  # where the source names it (known facts): the relation match must find this subject


@dataclass(frozen=True)
class Suggestion:
    probes: tuple[Probe, ...]
    how: str  # "same relation" or "default probes"; shown in the card


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


def _digest(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()[:8], "big")


def _example_facts(path: Path) -> list[Fact]:
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
        return [Fact(p["prompt"], p["answer"], it.get("task") == "convsent", path.name)
                for it in items for p in it.get("locality", []) if p.get("prompt") and p.get("answer")]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        log.info("no suggested probes from %s (%s)", path, err)
        return []


def _known_facts() -> list[Fact]:
    from instructedit.data.enrich import KNOWN_FACTS_FILE, load_known_facts

    try:
        return [Fact(f.probe.prompt, f.probe.answer, False, KNOWN_FACTS_FILE, f.subject) for f in load_known_facts()]
    except (OSError, ValueError, RecordError) as err:  # FileNotFoundError on a Space without the data folder
        log.info("no suggested probes from %s (%s)", KNOWN_FACTS_FILE, err)
        return []


@lru_cache(maxsize=4)
def fact_pool(examples_file: Path, with_known: bool = True) -> tuple[Fact, ...]:
    """Every candidate fact, each (prompt, answer) once; read once per examples file."""
    facts = _example_facts(examples_file) + (_known_facts() if with_known else [])
    unique = {(_norm(f.prompt), _norm(f.answer)): f for f in reversed(facts)}
    return tuple(reversed(list(unique.values())))


def relation_pattern(prompt: str, subject: str) -> re.Pattern | None:
    """A pattern matching `prompt`'s relation with any other subject (None: the subject is not in the prompt)."""
    template = relation_template(" ".join(prompt.split()), " ".join(subject.split()))
    if not template:
        return None
    before, after = template.split("{}", 1)
    bare = not _ARTICLE.sub("", before).strip()  # nothing but an article before the subject
    if bare and not after.strip():
        return None  # the prompt is its subject: every prompt would match
    head = r"(?:(?:the|a|an)\s+)?" if bare else re.escape(before)
    return re.compile(r"^" + head + r"(?P<subject>.+?)" + re.escape(after) + r"$", re.IGNORECASE)


def _bare(subject: str) -> str:
    return _norm(_ARTICLE.sub("", subject.strip()))


def _is_neighbour(match: re.Match | None, fact: Fact, subject: str) -> bool:
    """The fact has the relation, about another subject (the fact's own subject, where it names one)."""
    if match is None or fact.conversational:
        return False
    found = _bare(match.group("subject"))
    return found != _bare(subject) and (not fact.subject or found == _bare(fact.subject))


def neighbours(record: EditRecord, pool: tuple[Fact, ...], count: int = SUGGESTED) -> list[Fact]:
    """Facts of the record's relation about other subjects, `count` at most, in a fixed order."""
    pattern = relation_pattern(record.prompt, record.subject) if record.task != "convsent" else None
    if pattern is None:
        return []
    target = _norm(record.target)
    found = []
    for fact in pool:
        match = pattern.match(" ".join(fact.prompt.split()))
        if _is_neighbour(match, fact, record.subject) and _norm(fact.answer) != target:
            found.append(fact)
    return sorted(found, key=lambda f: _digest(record.prompt, f.prompt))[:count]


def default_probes(record: EditRecord, pool: tuple[Fact, ...], count: int = SUGGESTED) -> list[Fact]:
    """The examples' locality probes of the record's kind of task that do not mention its subject."""
    conversational = record.task == "convsent"
    subject, target = _norm(record.subject), _norm(record.target)
    fitting = [f for f in pool if f.conversational == conversational and not f.subject
               and not (subject and subject in _norm(f.prompt)) and _norm(f.answer) != target
               and _norm(f.prompt) != _norm(record.prompt)]
    if not fitting and not conversational:
        fitting = [Fact(p, a, False, "built-in") for p, a in DEFAULT_PROBES if _norm(a) != target]
    return sorted(fitting, key=lambda f: _digest(record.prompt, f.prompt))[:count]


def suggest(record: EditRecord, pool: tuple[Fact, ...], count: int = SUGGESTED) -> Suggestion:
    """The probes to add to a record that has no locality probes (neighbours first, else the defaults)."""
    found = neighbours(record, pool, count)
    if found:
        return Suggestion(tuple(Probe(f.prompt, f.answer, (f.answer,), kind="neighbour") for f in found),
                          "same relation, other subjects")
    fallback = default_probes(record, pool, count)
    return Suggestion(tuple(Probe(f.prompt, f.answer, (f.answer,), kind="unrelated") for f in fallback),
                      "default probes (no fact of the same relation found)")
