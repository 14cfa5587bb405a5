"""Input checks for the UI: every problem becomes an InputError that names the field the user must fix.

Text policy. Accepted: any script (including right-to-left letters such as Arabic or Hebrew), emoji
(with their zero-width joiners and variation selectors), tabs and newlines. Refused, with the code point
named: lone surrogates (not text at all), other control characters, invisible format characters such as
zero-width spaces or byte-order marks, bidirectional overrides and isolates (they make text display in
an order other than the model reads it), private-use and unassigned code points. Lengths are checked
in characters here (cheap) and in tokens later by the library (`DEFAULT_MAX_TOKENS`).
"""
from __future__ import annotations

import re
import unicodedata

from instructedit.data.records import SENTIMENTS, EditRecord, Probe, RecordError
from instructedit.instructions import MAX_CUSTOM_CHARS
from instructedit.tokenize import DEFAULT_MAX_TOKENS

MAX_FIELD_CHARS = 2000
MAX_LINES = 10
LOCALITY_SEPARATOR = "=>"
ALLOWED_CONTROLS = frozenset("\n\t\r")
# joiners and selectors that emoji and some scripts (e.g. Persian's ZWNJ) legitimately use
ALLOWED_FORMAT = frozenset("\u200c\u200d")
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
INVISIBLE_OK = ALLOWED_FORMAT | frozenset("\ufe0e\ufe0f")

FIELD_LABELS = {
    "prompt": "Prompt", "target": "Target", "subject": "Subject", "rephrases": "Paraphrases",
    "locality": "Locality probes", "portability": "Portability probes", "topic": "Topic",
    "label": "Sentiment", "task": "Task", "instruction": "Custom instruction", "editor": "Editor",
    "second_editor": "Second editor", "seen": "Seen instruction", "third": "Third column",
    "max_new_tokens": "Continuation length",
}
_LIBRARY_FIELD = re.compile(r"\b(prompt|target|subject|rephrases|locality|portability|topic|label|task)(?:\[(\d+)\])?")


class InputError(ValueError):
    """Bad user input: `field` is the label shown in the UI, the message says what to change."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def _odd_char(char: str) -> str | None:
    """Why `char` is refused, or None when it is fine."""
    code = ord(char)
    category = unicodedata.category(char)
    name = unicodedata.name(char, "unnamed")
    if 0xD800 <= code <= 0xDFFF:
        return f"an unpaired surrogate U+{code:04X} (not valid text; check the copy-paste source)"
    if char in BIDI_CONTROLS:
        return f"the invisible bidirectional control U+{code:04X} {name}; remove it"
    if category == "Cc" and char not in ALLOWED_CONTROLS:
        return f"the control character U+{code:04X}; remove it"
    if category == "Cf" and char not in ALLOWED_FORMAT:
        return f"the invisible format character U+{code:04X} {name}; remove it"
    if category in ("Co", "Cn"):
        return f"the private-use or unassigned code point U+{code:04X}"
    return None


def check_text(value, field: str, *, required: bool = True, max_chars: int = MAX_FIELD_CHARS) -> str:
    """The text of a field, checked: a string, not blank when required, no odd characters, not too long."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InputError(field, f"must be text, got {type(value).__name__}")
    for char in value:
        reason = _odd_char(char)
        if reason:
            raise InputError(field, f"contains {reason}")
    visible = "".join(c for c in value if c not in INVISIBLE_OK).strip()
    if value.strip() and not visible:
        raise InputError(field, "holds only invisible characters")
    if required and not visible:
        raise InputError(field, "must not be empty or blank")
    if len(value) > max_chars:
        raise InputError(field, f"is {len(value)} characters long; the limit is {max_chars} "
                                f"(and {DEFAULT_MAX_TOKENS} tokens with the instruction and target)")
    return value.strip()


def parse_lines(value, field: str) -> tuple[str, ...]:
    """One entry per non-blank line (paraphrases); at most MAX_LINES."""
    text = check_text(value, field, required=False, max_chars=MAX_FIELD_CHARS * 2)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > MAX_LINES:
        raise InputError(field, f"has {len(lines)} lines; give at most {MAX_LINES}")
    for i, line in enumerate(lines):
        check_text(line, f"{field} (line {i + 1})")
    return tuple(lines)


def parse_locality(value, field: str = FIELD_LABELS["locality"]) -> tuple[Probe, ...]:
    """Lines of `prompt => answer` (the answer after the last `=>`)."""
    probes = []
    for i, line in enumerate(parse_lines(value, field)):
        where = f"{field} (line {i + 1})"
        prompt, sep, answer = line.rpartition(LOCALITY_SEPARATOR)
        if not sep:
            raise InputError(where, f"write each probe as 'prompt {LOCALITY_SEPARATOR} answer'")
        probes.append(Probe(check_text(prompt, f"{where}, prompt"), check_text(answer, f"{where}, answer")))
    return tuple(probes)


def check_choice(value, choices, field: str):
    """`value` if it is one of `choices`, else an InputError listing them."""
    options = list(choices)
    if value not in options:
        shown = ", ".join(str(o) for o in options[:12])
        raise InputError(field, f"{str(value)[:80]!r} is not one of: {shown}")
    return value


def check_int(value, low: int, high: int, field: str) -> int:
    """An integer in [low, high] (numbers from sliders may arrive as floats or numeric strings)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(field, f"must be a whole number from {low} to {high}, got {str(value)[:40]!r}") from None
    if not number.is_integer() or not low <= number <= high:
        raise InputError(field, f"must be a whole number from {low} to {high}, got {str(value)[:40]}")
    return int(number)


def check_custom_instruction(value) -> str:
    return check_text(value, FIELD_LABELS["instruction"], max_chars=MAX_CUSTOM_CHARS)


def field_label(message: str) -> str:
    """The UI label of the first record field a library message names (`rephrases[1]` -> `Paraphrases (line 2)`)."""
    prefix = "target of "  # "target of 'locality[0]' produced no tokens": that pair's answer is at fault
    answer_of = message.startswith(prefix)
    match = _LIBRARY_FIELD.search(message[len(prefix):] if answer_of else message)
    if not match:
        return "Input"
    if answer_of:
        group = match.group(1)
        if group in ("locality", "portability") and match.group(2) is not None:
            return f"{FIELD_LABELS[group]} (line {int(match.group(2)) + 1}), answer"
        return FIELD_LABELS["target"]
    label = FIELD_LABELS.get(match.group(1), match.group(1))
    return f"{label} (line {int(match.group(2)) + 1})" if match.group(2) is not None else label


def from_library(err: ValueError) -> InputError:
    """A library ValueError (RecordError, token cap, empty target) as an InputError naming the UI field."""
    name = getattr(err, "field_name", "") or str(err)
    message = str(err).split(": ", 1)[-1] if isinstance(err, RecordError) else str(err)
    return InputError(field_label(name), message)


def build_record(task: str, prompt, target, subject="", paraphrases="", locality="", topic="", label="") -> EditRecord:
    """The EditRecord for the Edit tab's fields, every field checked."""
    fields = dict(
        task=task,
        prompt=check_text(prompt, FIELD_LABELS["prompt"]),
        target=check_text(target, FIELD_LABELS["target"]),
        subject=check_text(subject, FIELD_LABELS["subject"], required=False),
        rephrases=parse_lines(paraphrases, FIELD_LABELS["rephrases"]),
        locality=parse_locality(locality),
    )
    if task == "convsent":
        fields["topic"] = check_text(topic, FIELD_LABELS["topic"])
        fields["label"] = check_choice(label, SENTIMENTS, FIELD_LABELS["label"])
    try:
        return EditRecord(**fields)
    except RecordError as err:
        raise from_library(err) from err
