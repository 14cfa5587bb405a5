"""Cleaning and filtering proposed instructions: what a proposer returns is never trusted as is.

A proposal is first *cleaned* (list bullets, numbering, surrounding quotes, an "Instruction:" label and
extra whitespace are removed; only the first non-empty line is kept, so chatty model output reduces to
its first sentence-line), then *checked*. It is rejected, with the reason reported, when it is

- empty (or fewer than MIN_WORDS words) after cleaning,
- a duplicate of a proposal already seen in this search, compared case- and whitespace-insensitively
  (trailing punctuation ignored), including the ones rejected earlier,
- over-long: more than MAX_CANDIDATE_CHARS characters. The cap is 300 characters: the built-in
  descriptions are 60-110 characters, the instruction template repeats the description in every
  edit, paraphrase and portability prompt (so long ones eat the token budget), and it stays well under
  the 500-character limit of a free-text instruction (`instructions.MAX_CUSTOM_CHARS`),
- off-topic: sharing no content word (4+ letters, not a stop word, compared on the first 5 letters so
  "facts" meets "fact") with the task description and the task name; this catches a chat model's small
  talk ("I'm ready to help. What can I help you with?"), which otherwise gets scored like an instruction,
- missing a placeholder its task needs (ConvSent: `[LABEL]` and `[TOPIC]`, which `instructions.render`
  fills with the requested sentiment and the topic), or carrying a bracketed placeholder that is not
  filled for its task (e.g. `[SUBJECT]`, or `[TOPIC]` in a CounterFact instruction): it would reach the
  model verbatim.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_CANDIDATE_CHARS = 300
MIN_WORDS = 3
PLACEHOLDERS = ("[LABEL]", "[TOPIC]")
REQUIRED_PLACEHOLDERS: dict[str, tuple[str, ...]] = {"convsent": PLACEHOLDERS}

_BULLET = re.compile(r"^\s*(?:[-*•]+|\(?\d{1,2}[.):]|\(?[a-z][.)])\s+", re.IGNORECASE)
_LABEL = re.compile(r"^\s*(?:new\s+)?(?:instruction|description)\s*\d*\s*:\s*", re.IGNORECASE)
_QUOTES = "\"'`“”‘’«»"
_BRACKETED = re.compile(r"\[[A-Z_]+\]")
_WORD = re.compile(r"[a-z]{4,}")
STOP_WORDS = frozenset(
    "that this with from into onto when what which where while have been were will would should could then "
    "than there here your their they them these those some such only also very more most just about after "
    "before over under make makes made does each every other".split())


def content_words(*texts: str) -> set[str]:
    """The 5-letter stems of the words of 4+ letters that are not stop words."""
    return {w[:5] for text in texts for w in _WORD.findall(text.casefold()) if w not in STOP_WORDS}


def clean(text: str) -> str:
    """The first non-empty line, without bullets, numbering, an 'Instruction:' label or quotes."""
    if not isinstance(text, str):
        return ""
    line = next((part for part in text.splitlines() if part.strip()), "")
    line = _LABEL.sub("", _BULLET.sub("", line))
    line = line.strip().strip(_QUOTES).strip()
    line = _LABEL.sub("", line).strip().strip(_QUOTES).strip()
    return " ".join(line.split())


def dedupe_key(text: str) -> str:
    """Case-, whitespace- and trailing-punctuation-insensitive identity of an instruction."""
    return " ".join(text.casefold().split()).rstrip(" .!?;:")


def problem(text: str, task: str, topic_words: set[str] | None = None) -> str | None:
    """Why a cleaned proposal cannot be used for `task` (None when it can); duplicates are checked apart.

    `topic_words` (see `content_words`) enables the off-topic check.
    """
    if not text:
        return "empty"
    if len(text) > MAX_CANDIDATE_CHARS:
        return f"over-long: {len(text)} characters, the cap is {MAX_CANDIDATE_CHARS}"
    if len(text.split()) < MIN_WORDS:
        return f"too short: fewer than {MIN_WORDS} words"
    if topic_words and not content_words(text) & topic_words:
        return "off-topic: shares no content word with the task description"
    required = REQUIRED_PLACEHOLDERS.get(task, ())
    missing = [p for p in required if p not in text]
    if missing:
        return f"missing placeholder(s) {' and '.join(missing)} required for task {task}"
    unknown = sorted({p for p in _BRACKETED.findall(text) if p not in required})
    if unknown:
        return f"placeholder(s) {', '.join(unknown)} are not filled for task {task}"
    return None


def _shown(raw) -> str:
    """A rejected proposal as it is reported: the raw text, cut to 2 x the cap."""
    text = raw if isinstance(raw, str) else repr(raw)
    return text if len(text) <= 2 * MAX_CANDIDATE_CHARS else text[: 2 * MAX_CANDIDATE_CHARS] + "…"


@dataclass
class Screened:
    """The outcome of screening one batch of proposals."""

    accepted: list[str] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)   # {"text": raw proposal, "reason": why}


def screen(proposals: list[str], task: str, seen: set[str], limit: int | None = None,
           topic_words: set[str] | None = None) -> Screened:
    """Clean and check `proposals`; `seen` (dedupe keys) is updated with everything looked at.

    At most `limit` are accepted; later valid ones are rejected as "over the per-round limit" (and may
    come back in a later round).
    """
    result = Screened()
    for raw in proposals:
        text = clean(raw)
        reason = problem(text, task, topic_words)
        key = dedupe_key(text)
        if reason is None and key in seen:
            reason = "duplicate of an earlier proposal"
        if reason is None and limit is not None and len(result.accepted) >= limit:
            result.rejected.append({"text": _shown(raw), "reason": "over the per-round limit"})
            continue  # not marked as seen: a later round may propose it again
        if text:
            seen.add(key)
        if reason is None:
            result.accepted.append(text)
        else:
            result.rejected.append({"text": _shown(raw), "reason": reason})
    return result
