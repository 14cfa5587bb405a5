"""KnowEdit loaders: WikiData-Recent and WikiData-CounterFact records as EditRecords.

A KnowEdit record has `subject, prompt, target_new` (CounterFact adds the true answer `ground_truth`),
`portability` {Subject_Aliasing, Reasoning, Logical_Generalization} and `locality` {Relation_Specificity,
Forgetfulness}. Each category is a list of `{prompt, ground_truth}`, where `ground_truth` is a string, a list
of aliases or a list of alias lists (one per accepted answer); the flattened variant, one object
`{prompt: [...], ground_truth: [...]}` with one answer per prompt, is read too.

KnowEdit has no paraphrases. The Subject_Aliasing prompts ask the edited fact of another name of the
subject, so they become the record's `rephrases` (answered with `target_new`); Reasoning and
Logical_Generalization become `portability`; Relation_Specificity and Forgetfulness become same-subject
`locality`. Every probe keeps its category as `kind` and all accepted answers as `aliases`.
"""
from __future__ import annotations

import logging
from typing import Any

from .fields import Fields
from .records import EditRecord, Probe, RecordError, check_text

log = logging.getLogger(__name__)

GENERALIZATION_CATEGORIES = ("Subject_Aliasing",)
PORTABILITY_CATEGORIES = ("Reasoning", "Logical_Generalization")
LOCALITY_CATEGORIES = ("Relation_Specificity", "Forgetfulness")
CATEGORIES = {"portability": GENERALIZATION_CATEGORIES + PORTABILITY_CATEGORIES, "locality": LOCALITY_CATEGORIES}
MAX_NESTING = 2  # a list of alias lists


def aliases_of(ground_truth: Any, field_name: str) -> tuple[str, ...]:
    """Every accepted answer of a KnowEdit ground truth (string, aliases or alias lists), in order, once."""
    found: list[str] = []

    def walk(value: Any, depth: int) -> None:
        if isinstance(value, str):
            check_text(value, field_name)
            found.append(value)
        elif isinstance(value, list) and depth < MAX_NESTING:
            if not value:
                raise RecordError("is an empty list", field_name=field_name)
            for item in value:
                walk(item, depth + 1)
        elif isinstance(value, list):
            raise RecordError(f"nests lists deeper than {MAX_NESTING} levels", field_name=field_name)
        else:
            raise RecordError(f"must hold strings, got {type(value).__name__}", field_name=field_name)

    if ground_truth is None:
        raise RecordError("is missing", field_name=field_name)
    walk(ground_truth, 0)
    return tuple(dict.fromkeys(found))


def _item_pairs(item: Any, at: str) -> list[tuple[str, tuple[str, ...]]]:
    """(prompt, aliases) pairs of one `{prompt, ground_truth}` object, flattened or not."""
    if not isinstance(item, dict):
        raise RecordError("must be an object with prompt and ground_truth", field_name=at)
    prompts, truth = item.get("prompt"), item.get("ground_truth")
    if isinstance(prompts, str):
        check_text(prompts, f"{at}.prompt")
        return [(prompts, aliases_of(truth, f"{at}.ground_truth"))]
    if not isinstance(prompts, list) or not prompts:
        raise RecordError("must be a string or a non-empty list of strings", field_name=f"{at}.prompt")
    if len(prompts) == 1 or isinstance(truth, str):
        answers = [aliases_of(truth, f"{at}.ground_truth")] * len(prompts)
    elif isinstance(truth, list) and len(truth) == len(prompts):
        answers = [aliases_of(t, f"{at}.ground_truth[{j}]") for j, t in enumerate(truth)]
    else:
        got = f"{len(truth)} answers" if isinstance(truth, list) else type(truth).__name__
        raise RecordError(f"must hold one answer per prompt ({len(prompts)}), got {got}",
                          field_name=f"{at}.ground_truth")
    for j, prompt in enumerate(prompts):
        check_text(prompt, f"{at}.prompt[{j}]")
    return list(zip(prompts, answers))


def category_pairs(value: Any, where: str) -> list[tuple[str, tuple[str, ...]]]:
    """One category: a list of `{prompt, ground_truth}`, or one such object (the flattened variant)."""
    if isinstance(value, dict):
        return _item_pairs(value, where)
    if not isinstance(value, list):
        raise RecordError("must be a list of {prompt, ground_truth} objects", field_name=where)
    return [pair for i, item in enumerate(value) for pair in _item_pairs(item, f"{where}[{i}]")]


def read_categories(raw: dict, group: str) -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    """`portability` or `locality` of a raw record: category -> (prompt, aliases) pairs; absent is empty."""
    value = raw.get(group)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RecordError("must be an object of named probe lists", field_name=group)
    unknown = next((name for name in value if name not in CATEGORIES[group]), None)
    if unknown is not None:
        raise RecordError(f"unknown category; expected some of {', '.join(CATEGORIES[group])}",
                          field_name=f"{group}.{unknown}")
    return {name: category_pairs(value[name], f"{group}.{name}")
            for name in CATEGORIES[group] if value.get(name) is not None}


def relation_template(prompt: str, subject: str) -> str:
    """The prompt with its subject replaced by `{}` (KnowEdit prompts share one template per relation)."""
    return prompt.replace(subject, "{}") if subject and subject in prompt else ""


def _same(answer: str, aliases: tuple[str, ...]) -> bool:
    return answer.strip().casefold() in {a.strip().casefold() for a in aliases}


def _rephrases(pairs: list, prompt: str, target: str) -> tuple[tuple[str, ...], list[list[str]]]:
    """Subject_Aliasing prompts as paraphrases; those whose data answer is another label of the
    target (e.g. 'cisgender female' for 'cisgender woman') are kept, and listed as mismatches."""
    rephrases, mismatches = [], []
    for text, aliases in pairs:
        if text == prompt or text in rephrases:
            continue
        rephrases.append(text)
        if not _same(target, aliases):
            mismatches.append([text, aliases[0]])
    return tuple(rephrases), mismatches


def _probes(categories: dict, names: tuple[str, ...]) -> tuple[Probe, ...]:
    return tuple(Probe(text, aliases[0], aliases, kind=name)
                 for name in names for text, aliases in categories.get(name, ()))


def _parse_knowedit(raw: Any, index: int, *, kind: str, truth_required: bool) -> EditRecord:
    f = Fields(raw)
    subject, prompt, target = f.text("subject"), f.text("prompt"), f.text("target_new")
    for name, value in (("subject", subject), ("prompt", prompt), ("target_new", target)):
        check_text(value, name)
    truth = f.text("ground_truth") if truth_required else ""
    check_text(truth, "ground_truth", allow_empty=True)  # one CounterFact record has a blank true answer
    truth = truth if truth.strip() else ""
    portability, locality = read_categories(f.raw, "portability"), read_categories(f.raw, "locality")
    rephrases, mismatches = _rephrases(portability.get("Subject_Aliasing", []), prompt, target)
    if mismatches:
        log.debug("record %d: %d Subject_Aliasing answers differ from target_new", index, len(mismatches))
    return EditRecord(
        task=kind, prompt=prompt, target=target, record_id=f.text("id", str(index)), subject=subject,
        ground_truth=truth, rephrases=rephrases, locality=_probes(locality, LOCALITY_CATEGORIES),
        portability=_probes(portability, PORTABILITY_CATEGORIES),
        meta={"relation": relation_template(prompt, subject), "alias_mismatches": mismatches},
    )


def parse_knowedit_recent(raw: Any, index: int) -> EditRecord:
    """KnowEdit WikiData-Recent: no true answer (the facts are new); some records lack `portability`."""
    return _parse_knowedit(raw, index, kind="recent", truth_required=False)


def parse_knowedit_counterfact(raw: Any, index: int) -> EditRecord:
    """KnowEdit WikiData-CounterFact: as Recent plus the true answer `ground_truth` (a string, may be blank)."""
    return _parse_knowedit(raw, index, kind="counterfact", truth_required=True)
