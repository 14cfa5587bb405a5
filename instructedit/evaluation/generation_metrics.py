"""Generation metrics, reported beside the teacher-forced token metrics (issue #13).

Token accuracy on the target scores an edit that makes the model say "euro euro euro" as a success;
these metrics read what the edited model actually generates (greedy, batched, see batched_generation).

Matching: `normalise` (NFKC, casefold, collapsed spaces, outer whitespace and punctuation stripped);
an answer matches where a normalised alias starts the normalised continuation at a word boundary
("Rome" matches "Rome, Italy" and "rome." but not "Romeo"), also after one leading article
("the United States"). Reliability / generalization / portability: the post-edit continuation of the
edit prompt / paraphrases / portability prompts starts with the target (any alias), 0 or 1 per prompt.

Locality: a locality prompt's post-edit continuation keeps the base model's first N tokens,
N = the answer's token length + `extra_tokens` (3). A leak: the post-edit continuation of a locality
prompt contains the edit's target (word boundary) where the base continuation did not.

Degeneration, of the edit prompt's post-edit continuation (`text_tokens`, 30 tokens): degenerate when
  - one line of the continuation names the target TARGET_REPEAT_LIMIT (3) or more times ("euro euro euro",
    "Sridevi, Sridevi, and Sridevi"), or
  - one non-blank line recurs LINE_REPEAT_LIMIT (3) or more times ("euro.\neuro.\neuro."), or a unit of 1-8
    letters loops CHARACTER_LOOP_LIMIT (4) or more times in a row inside a word (" māhūhūhūhū", which word
    n-grams cannot see), or one word follows itself until it stands WORD_RUN_LIMIT (4) times in a row,
    punctuation between ignored (" 2001 2001 2001 2001", " F.F.F.F", " gender-gender-gender-gender": a
    30-token text too short for the repetition rate), where the base continuation has no loop of that kind, or
  - its repetition rate exceeds REPETITION_LIMIT (0.5) and the base continuation's by REPETITION_MARGIN (0.25);
repetition rate = 1 - distinct/total n-grams of words and single punctuation marks ("???" loops count),
averaged over n = 1, 2, 3. Counting per line spares the instruction template: a wrapped prompt's
continuation restates its answer on its "Output:" and "Explanation:" lines as the base model's does, and
"Rome. Rome is the capital of Italy" is fluent. The margin spares a base model that loops as much by itself.
fluency_ratio = the n-gram entropy (generation.ngram_entropy) of the post-edit continuation over the base
continuation's (None if that is 0).
"""
from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from ..editor.edit import Edit
from ..prompts import Example, wrap_prompt
from ..tokenize import join
from ..editor.batched_generation import DEFAULT_MAX_ROWS, generate_ids_batch
from .generation import ngram_entropy
from .schema import locality_group

log = logging.getLogger(__name__)

TARGET_REPEAT_LIMIT = 3
LINE_REPEAT_LIMIT = 3
CHARACTER_LOOP_LIMIT = 4
WORD_RUN_LIMIT = 4
REPETITION_LIMIT = 0.5
REPETITION_MARGIN = 0.25
REPETITION_ORDERS = (1, 2, 3)
LEADING_ARTICLES = ("the", "a", "an")
DEFAULT_EXTRA_TOKENS = 3
DEFAULT_TEXT_TOKENS = 30
_SPACES = re.compile(r"\s+")
_WORDS = re.compile(r"\w+|[^\w\s]")  # words, and each other visible character
_LETTERS_AND_DIGITS = re.compile(r"\w+")
_CHARACTER_LOOP = re.compile(r"([^\W\d_]{1,8}?)\1{%d,}" % (CHARACTER_LOOP_LIMIT - 1))


def normalise(text: str) -> str:
    """NFKC, casefolded, whitespace collapsed, outer whitespace and punctuation stripped."""
    text = _SPACES.sub(" ", unicodedata.normalize("NFKC", text).casefold())
    start, end = 0, len(text)
    while start < end and (text[start].isspace() or unicodedata.category(text[start]).startswith("P")):
        start += 1
    while end > start and (text[end - 1].isspace() or unicodedata.category(text[end - 1]).startswith("P")):
        end -= 1
    return text[start:end]


def _alias_patterns(aliases: Sequence[str]) -> list[re.Pattern]:
    if isinstance(aliases, str):
        aliases = (aliases,)
    normalised = {normalise(a) for a in aliases}
    return [re.compile(r"(?<!\w)" + re.escape(a) + r"(?!\w)") for a in sorted(normalised) if a]


def starts_with_answer(continuation: str, aliases: Sequence[str]) -> bool:
    """Whether the normalised continuation starts with a normalised alias, at a word boundary."""
    text = normalise(continuation)
    first, _, rest = text.partition(" ")
    candidates = (text, rest) if first in LEADING_ARTICLES else (text,)
    return any(p.match(c) for p in _alias_patterns(aliases) for c in candidates)


def count_answer(text: str, aliases: Sequence[str]) -> int:
    """Occurrences of any alias in the normalised text (word boundaries, non-overlapping, largest alias)."""
    normalised = normalise(text)
    return max((len(p.findall(normalised)) for p in _alias_patterns(aliases)), default=0)


def contains_answer(text: str, aliases: Sequence[str]) -> bool:
    return count_answer(text, aliases) > 0


def is_leak(pre_continuation: str, post_continuation: str, target_aliases: Sequence[str]) -> bool:
    """The edit's target appears in a locality prompt's continuation after the edit, not before."""
    return contains_answer(post_continuation, target_aliases) and not contains_answer(pre_continuation,
                                                                                      target_aliases)


def count_leaks(pairs: Sequence[tuple[str, str]], target_aliases: Sequence[str]) -> int:
    """Leaks among (pre, post) continuation pairs of one edit's locality prompts."""
    return sum(is_leak(pre, post, target_aliases) for pre, post in pairs)


def repetition_rate(text: str, orders: Sequence[int] = REPETITION_ORDERS) -> float:
    """1 - distinct / total n-grams of words and marks, averaged over the orders the text is long enough for."""
    words = _WORDS.findall(unicodedata.normalize("NFKC", text).casefold())
    rates = []
    for n in orders:
        grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
        if grams:
            rates.append(1.0 - len(set(grams)) / len(grams))
    return sum(rates) / len(rates) if rates else 0.0


def has_character_loop(text: str) -> bool:
    """A unit of 1-8 letters repeated CHARACTER_LOOP_LIMIT times in a row within a word ("hūhūhūhū")."""
    return _CHARACTER_LOOP.search(unicodedata.normalize("NFKC", text).casefold()) is not None


def has_word_run(text: str) -> bool:
    """One word WORD_RUN_LIMIT times in a row, marks between ignored ("2001 2001 2001 2001", "F.F.F.F")."""
    words = _LETTERS_AND_DIGITS.findall(unicodedata.normalize("NFKC", text).casefold())
    run = 1
    for before, word in zip(words, words[1:]):
        run = run + 1 if word == before else 1
        if run >= WORD_RUN_LIMIT:
            return True
    return False


def _repeats_target_in_a_line(continuation: str, target_aliases: Sequence[str]) -> bool:
    return any(count_answer(line, target_aliases) >= TARGET_REPEAT_LIMIT for line in continuation.splitlines())


def _repeats_a_line(continuation: str) -> bool:
    lines = [normalise(line) for line in continuation.splitlines()]
    lines = [line for line in lines if line]
    return any(lines.count(line) >= LINE_REPEAT_LIMIT for line in set(lines))


def is_degenerate(continuation: str, target_aliases: Sequence[str], base_continuation: str | None = None) -> bool:
    """The module docstring's definition; without a base continuation its repetition rate counts as 0
    and it has no character loop."""
    if _repeats_target_in_a_line(continuation, target_aliases):
        return True
    for loops in (_repeats_a_line, has_character_loop, has_word_run):  # the base model's own loops are not the edit's doing
        if loops(continuation) and not (base_continuation and loops(base_continuation)):
            return True
    rate = repetition_rate(continuation)
    base = repetition_rate(base_continuation) if base_continuation is not None else 0.0
    return rate > REPETITION_LIMIT and rate > base + REPETITION_MARGIN


def rescore_degeneration(row: dict, target_aliases: Sequence[str]) -> dict:
    """A scored record with its degeneration flags recomputed from its stored continuations (after a
    change of the definition: the texts are kept, so old results need no new generation)."""
    out = dict(row)
    for suffix in ("", "_plain"):
        if (post := row.get(f"post_text{suffix}")) is not None:
            out[f"degenerate{suffix}"] = int(is_degenerate(post, target_aliases, row.get(f"pre_text{suffix}")))
    return out


def fluency_ratio(continuation: str, base_continuation: str) -> float | None:
    """n-gram entropy of a continuation over the base continuation's; None when the base's is 0."""
    base = ngram_entropy(base_continuation)
    return ngram_entropy(continuation) / base if base > 0 else None


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
