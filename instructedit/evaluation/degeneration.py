"""When an edited model's text loops, and how fluent it is against the base model's.

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

import re
import unicodedata
from collections.abc import Sequence

from .answers import count_answer, normalise
from .generation import ngram_entropy

TARGET_REPEAT_LIMIT = 3
LINE_REPEAT_LIMIT = 3
CHARACTER_LOOP_LIMIT = 4
WORD_RUN_LIMIT = 4
REPETITION_LIMIT = 0.5
REPETITION_MARGIN = 0.25
REPETITION_ORDERS = (1, 2, 3)
_WORDS = re.compile(r"\w+|[^\w\s]")  # words, and each other visible character
_LETTERS_AND_DIGITS = re.compile(r"\w+")
_CHARACTER_LOOP = re.compile(r"([^\W\d_]{1,8}?)\1{%d,}" % (CHARACTER_LOOP_LIMIT - 1))


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


def rescore_rows(rows: list[dict], targets: dict[tuple[str, str], str]) -> tuple[list[dict], int]:
    """Scored rows with their degeneration flags recomputed (`rescore_degeneration`, each against its target
    `targets[(task, record_id)]`; rows without continuations as they are), and how many flags changed."""
    out, changed = [], 0
    for row in rows:
        if "post_text" not in row and "post_text_plain" not in row:
            out.append(row)
            continue
        key = (row["task"], row["record_id"])
        if key not in targets:
            raise ValueError(f"record {key[1]!r} of task {key[0]!r} is not in the data: cannot find its target; "
                             "is the shared data folder (INSTRUCTEDIT_DATA_DIR) the one the results were made from?")
        new = rescore_degeneration(row, [targets[key]])
        changed += sum(new.get(k) != row.get(k) for k in ("degenerate", "degenerate_plain"))
        out.append(new)
    return out, changed


def fluency_ratio(continuation: str, base_continuation: str) -> float | None:
    """n-gram entropy of a continuation over the base continuation's; None when the base's is 0."""
    base = ngram_entropy(base_continuation)
    return ngram_entropy(continuation) / base if base > 0 else None
