"""Answers in generated text: does a continuation start with, contain or leak an answer (any alias).

Matching: `normalise` (NFKC, casefold, collapsed spaces, outer whitespace and punctuation stripped);
an answer matches where a normalised alias starts the normalised continuation at a word boundary
("Rome" matches "Rome, Italy" and "rome." but not "Romeo"), also after one leading article
("the United States")."""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

LEADING_ARTICLES = ("the", "a", "an")
_SPACES = re.compile(r"\s+")


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
