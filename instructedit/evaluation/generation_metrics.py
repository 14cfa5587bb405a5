"""Generation metrics, reported beside the teacher-forced token metrics (issue #13).

Token accuracy on the target scores an edit that makes the model say "euro euro euro" as a success;
these metrics read what the edited model actually generates (greedy, batched, see batched_generation).

Reliability / generalization / portability: the post-edit continuation of the edit prompt / paraphrases /
portability prompts starts with the target (any alias; matching as `answers` defines it), 0 or 1 per prompt.

Locality: a locality prompt's post-edit continuation keeps the base model's first N tokens,
N = the answer's token length + `extra_tokens` (3). A leak: the post-edit continuation of a locality
prompt contains the edit's target (word boundary) where the base continuation did not.

Degeneration and fluency vs base, of the edit prompt's post-edit continuation (`text_tokens`, 30 tokens):
as `degeneration` defines them.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from ..editor.edit import Edit
from ..prompts import Example, wrap_prompt
from ..tokenize import join
from ..editor.batched_generation import DEFAULT_MAX_ROWS, generate_ids_batch
from .answers import count_leaks, normalise, starts_with_answer
from .degeneration import fluency_ratio, is_degenerate, repetition_rate
from .schema import locality_group

log = logging.getLogger(__name__)

DEFAULT_EXTRA_TOKENS = 3
DEFAULT_TEXT_TOKENS = 30


def _aliases(value: str | Sequence[str], name: str) -> tuple[str, ...]:
    aliases = (value,) if isinstance(value, str) else tuple(value)
    if not aliases or any(not isinstance(a, str) or not normalise(a) for a in aliases):
        raise ValueError(f"{name} must be one or more non-blank strings, got {value!r}")
    return aliases


def _check_prompt(prompt: str, name: str) -> None:
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError(f"{name} must be a non-blank string, got {prompt!r}")


@dataclass(frozen=True)
class AnswerPrompt:
    """A prompt and its accepted answers (the first is the answer)."""

    prompt: str
    aliases: tuple[str, ...]

    def __post_init__(self):
        _check_prompt(self.prompt, "prompt")
        object.__setattr__(self, "aliases", _aliases(self.aliases, "aliases"))


@dataclass(frozen=True)
class LocalityPrompt(AnswerPrompt):
    """A prompt the edit must not change, with its answers and kind ("unrelated", "neighbour", ...)."""

    kind: str = ""

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.kind, str):
            raise TypeError(f"kind must be a string, got {type(self.kind).__name__}")


def _coerce(items, cls, name: str) -> tuple:
    out = []
    for i, item in enumerate(items):
        if isinstance(item, cls):
            out.append(item)
        elif isinstance(item, (tuple, list)):
            out.append(cls(*item))
        else:
            raise TypeError(f"{name}[{i}] must be a {cls.__name__} or a tuple, got {type(item).__name__}")
    return tuple(out)


@dataclass(frozen=True)
class GenerationProbes:
    """One record's generation probes. `edit_prompt` is instruction-wrapped, as the editor sees it;
    `plain_prompt` (optional) is the bare prompt. Tuples are accepted for portability (prompt, aliases)
    and locality (prompt, aliases, kind)."""

    edit_prompt: str
    target_aliases: tuple[str, ...]
    plain_prompt: str | None = None
    paraphrases: tuple[str, ...] = ()
    portability: tuple[AnswerPrompt, ...] = ()
    locality: tuple[LocalityPrompt, ...] = ()

    def __post_init__(self):
        _check_prompt(self.edit_prompt, "edit_prompt")
        if self.plain_prompt is not None:
            _check_prompt(self.plain_prompt, "plain_prompt")
        object.__setattr__(self, "target_aliases", _aliases(self.target_aliases, "target_aliases"))
        paraphrases = (self.paraphrases,) if isinstance(self.paraphrases, str) else tuple(self.paraphrases)
        for i, text in enumerate(paraphrases):
            _check_prompt(text, f"paraphrases[{i}]")
        object.__setattr__(self, "paraphrases", paraphrases)
        object.__setattr__(self, "portability", _coerce(self.portability, AnswerPrompt, "portability"))
        object.__setattr__(self, "locality", _coerce(self.locality, LocalityPrompt, "locality"))


@dataclass(frozen=True)
class GenerationSettings:
    """Token budgets: `text_tokens` for the edit prompts' texts; answer length + `extra_tokens` elsewhere."""

    text_tokens: int = DEFAULT_TEXT_TOKENS
    extra_tokens: int = DEFAULT_EXTRA_TOKENS
    max_rows: int = DEFAULT_MAX_ROWS
    plain: bool = True

    def __post_init__(self):
        for name in ("text_tokens", "max_rows"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {getattr(self, name)!r}")
        if not isinstance(self.extra_tokens, int) or self.extra_tokens < 0:
            raise ValueError(f"extra_tokens must be an integer >= 0, got {self.extra_tokens!r}")


@dataclass(frozen=True)
class _Request:
    """One prompt to generate for one record; `pre`: also by the base model."""

    record: int
    role: str
    index: int
    prompt: str
    budget: int
    pre: bool


def answer_token_count(tokenizer, prompt: str, answer: str) -> int:
    """Tokens the answer adds after the prompt, in the joint tokenisation the token metrics use."""
    joint, _ = join(prompt, answer)
    return max(1, len(tokenizer(joint).input_ids) - len(tokenizer(prompt).input_ids))


def locality_budget(tokenizer, prompt: str, answer: str, extra: int = DEFAULT_EXTRA_TOKENS) -> int:
    """Tokens a locality prompt is continued for: its answer's length + `extra` (the N of generation locality)."""
    return answer_token_count(tokenizer, prompt, answer) + extra


def _answer_budget(tokenizer, prompt: str, aliases: Sequence[str], extra: int) -> int:
    return max(answer_token_count(tokenizer, prompt, a) for a in aliases) + extra


def _plan(tokenizer, records: Sequence[GenerationProbes], settings: GenerationSettings) -> list[_Request]:
    """Every prompt to generate, with its budget: the whole chunk in one list."""
    requests = []
    for r, probes in enumerate(records):
        prompts = {"edit": probes.edit_prompt}
        if settings.plain and probes.plain_prompt not in (None, probes.edit_prompt):
            prompts["plain"] = probes.plain_prompt
        for role, prompt in prompts.items():
            budget = max(settings.text_tokens,
                         _answer_budget(tokenizer, prompt, probes.target_aliases, settings.extra_tokens))
            requests.append(_Request(r, role, 0, prompt, budget, True))
        for i, prompt in enumerate(probes.paraphrases):
            budget = _answer_budget(tokenizer, prompt, probes.target_aliases, settings.extra_tokens)
            requests.append(_Request(r, "paraphrase", i, prompt, budget, False))
        for i, probe in enumerate(probes.portability):
            budget = _answer_budget(tokenizer, probe.prompt, probe.aliases, settings.extra_tokens)
            requests.append(_Request(r, "portability", i, probe.prompt, budget, False))
        for i, probe in enumerate(probes.locality):
            budget = locality_budget(tokenizer, probe.prompt, probe.aliases[0], settings.extra_tokens)
            requests.append(_Request(r, "locality", i, probe.prompt, budget, True))
    return requests


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _reliability_scores(texts: dict, probes: GenerationProbes, role: str, suffix: str) -> dict:
    """Success, degeneration and texts of one edit prompt (wrapped: suffix "", plain: "_plain")."""
    pre, post = texts[(role, 0)]
    return {
        f"gen_reliability{suffix}": float(starts_with_answer(post, probes.target_aliases)),
        f"pre_gen_reliability{suffix}": float(starts_with_answer(pre, probes.target_aliases)),
        f"degenerate{suffix}": int(is_degenerate(post, probes.target_aliases, pre)),
        f"post_text{suffix}": post, f"pre_text{suffix}": pre,
    }


def _locality_scores(ids: dict, texts: dict, probes: GenerationProbes) -> dict:
    """Overall and per-kind share of locality prompts whose first N tokens the edit leaves unchanged."""
    kept: dict[str, list[float]] = {}
    pairs = []
    for i, probe in enumerate(probes.locality):
        pre_ids, post_ids = ids[("locality", i)]
        kept.setdefault(probe.kind, []).append(float(pre_ids == post_ids))
        pairs.append(texts[("locality", i)])
    scores = {"gen_locality": _mean([v for values in kept.values() for v in values])}
    scores.update({f"gen_locality_{kind}": _mean(values) for kind, values in kept.items() if kind})
    leaks = count_leaks(pairs, probes.target_aliases) if pairs else None
    scores.update({"gen_leaks": leaks, "gen_leak": None if leaks is None else int(leaks > 0)})
    return scores


def _record_scores(ids: dict, texts: dict, probes: GenerationProbes, plain: bool) -> dict:
    scores = _reliability_scores(texts, probes, "edit", "")
    if plain and probes.plain_prompt is not None:
        role = "plain" if ("plain", 0) in texts else "edit"
        scores.update(_reliability_scores(texts, probes, role, "_plain"))
    pre, post = texts[("edit", 0)]
    scores.update({"fluency_ratio": fluency_ratio(post, pre), "repetition_rate": repetition_rate(post),
                   "pre_repetition_rate": repetition_rate(pre)})
    scores["gen_generalization"] = _mean([float(starts_with_answer(texts[("paraphrase", i)][1], probes.target_aliases))
                                          for i in range(len(probes.paraphrases))])
    scores["gen_portability"] = _mean([float(starts_with_answer(texts[("portability", i)][1], probe.aliases))
                                       for i, probe in enumerate(probes.portability)])
    scores.update(_locality_scores(ids, texts, probes))
    return scores


def generation_scores(model, tokenizer, records: Sequence[GenerationProbes], edit: Edit,
                      owner: Sequence[int] | None = None,
                      settings: GenerationSettings | None = None) -> list[dict]:
    """Generation metrics per record (see the module docstring) under its edit row `owner[r]` (default r).

    All prompts of all records run in one batched pass of the base model (edit and locality prompts)
    and one of the edited model, each split only by token budget and `settings.max_rows`.
    """
    settings = settings or GenerationSettings()
    owner = list(range(len(records))) if owner is None else list(owner)
    if len(owner) != len(records):
        raise ValueError(f"owner has {len(owner)} rows for {len(records)} records")
    requests = _plan(tokenizer, records, settings)
    before = [q for q in requests if q.pre]
    pre_ids = generate_ids_batch(model, tokenizer, [q.prompt for q in before], None, None,
                                 [q.budget for q in before], max_rows=settings.max_rows)
    post_ids = generate_ids_batch(model, tokenizer, [q.prompt for q in requests], edit,
                                  [owner[q.record] for q in requests], [q.budget for q in requests],
                                  max_rows=settings.max_rows)
    pre_by_request = dict(zip(before, pre_ids))
    ids: list[dict] = [{} for _ in records]
    texts: list[dict] = [{} for _ in records]
    for q, post in zip(requests, post_ids):
        pre = pre_by_request.get(q)
        ids[q.record][(q.role, q.index)] = (pre, post)
        texts[q.record][(q.role, q.index)] = tuple(
            None if row is None else tokenizer.decode(row, skip_special_tokens=True) for row in (pre, post))
    log.debug("generation metrics of %d records from %d prompts", len(records), len(requests))
    return [_record_scores(ids[r], texts[r], probes, settings.plain) for r, probes in enumerate(records)]


def _probe_answers(probe) -> tuple[str, ...]:
    """A Probe's accepted answers: its `aliases` where the record has them, else its answer."""
    return tuple(getattr(probe, "aliases", ())) or (probe.answer,)


def probes_from_example(example: Example, max_per_group: int | None = None) -> GenerationProbes:
    """A built example's generation probes, wrapped with its instruction exactly as build_example wraps.

    Locality probes carry their group (`schema.locality_group`: unrelated, neighbour, same_subject) as
    their kind; `max_per_group` keeps the first that many of each locality group, paraphrases and
    portability prompts (generation is the dear part; the token metrics score them all)."""
    record = example.record
    locality, taken = [], {}
    for probe in record.locality:
        group = locality_group(probe.kind)
        taken[group] = taken.get(group, 0) + 1
        if max_per_group is None or taken[group] <= max_per_group:
            locality.append(LocalityPrompt(probe.prompt, _probe_answers(probe), group))

    def wrap(prompt: str) -> str:
        return wrap_prompt(prompt, record, example.description)

    return GenerationProbes(
        edit_prompt=wrap(record.prompt), target_aliases=(record.target,), plain_prompt=record.prompt,
        paraphrases=tuple(wrap(r) for r in record.rephrases[:max_per_group]),
        portability=tuple(AnswerPrompt(wrap(p.prompt), _probe_answers(p)) for p in record.portability[:max_per_group]),
        locality=tuple(locality),
    )
