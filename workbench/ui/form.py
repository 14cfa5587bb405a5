"""The Edit tab's form as a value: `EditRequest`, its share link (query parameters) and the prefill from one.

A share link carries the form's fields as query parameters named after `EditRequest`'s fields (`prompt`,
`target`, `subject`, `paraphrases`, `locality`, `task`, `topic`, `label`, `seen_index`, `third`,
`custom_instruction`, `editor`, `second_editor`, `max_new_tokens`); fields at their default are left out.
Opening the link fills the form; a parameter that fails its check is skipped and named in a note.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from instructedit.data.records import SENTIMENTS, TASKS
from instructedit.instructions import N_SEEN
from workbench.ui import validate
from workbench.ui.validate import FIELD_LABELS, InputError

DEFAULT_NEW_TOKENS = 20
MAX_NEW_TOKENS = 64
MAX_QUERY_CHARS = 8000
THIRD_MODES = {  # value -> radio label; the third column's builders are in Handlers._third_specs
    "unseen": "Unseen (held-out) instruction",
    "custom": "Free-text instruction",
    "editor": "Second editor, same seen instruction",
}


@dataclass(frozen=True)
class EditRequest:
    """The Edit tab's inputs, as the handler receives them (app.py's EDIT_INPUTS, in this order)."""

    prompt: str
    target: str
    subject: str = ""
    paraphrases: str = ""
    locality: str = ""
    task: str = "counterfact"
    topic: str = ""
    label: str = "positive"
    seen_index: int = 0
    third: str = "unseen"
    custom_instruction: str = ""
    editor: str = ""
    second_editor: str = ""
    max_new_tokens: int = DEFAULT_NEW_TOKENS


FIELDS = tuple(f.name for f in dataclasses.fields(EditRequest))
TEXT_FIELDS = ("prompt", "target", "subject", "paraphrases", "locality", "topic", "custom_instruction")
_MULTILINE = {"paraphrases", "locality"}
_LABELS = {**FIELD_LABELS, "paraphrases": FIELD_LABELS["rephrases"],
           "custom_instruction": FIELD_LABELS["instruction"], "seen_index": FIELD_LABELS["seen"]}
_DEFAULTS = EditRequest("", "")


def share_url(page_url: str, request: EditRequest) -> str:
    """`page_url` (the address the browser shows) with the request's non-default fields as its query."""
    parts = urlsplit(page_url or "")
    values = {name: getattr(request, name) for name in FIELDS
              if getattr(request, name) not in (None, "") and getattr(request, name) != getattr(_DEFAULTS, name)}
    query = urlencode({k: str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)
                       for k, v in values.items()})
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, ""))


def _check(name: str, value: str, editors: list[str]):
    """One query parameter as the form field's value; raises InputError naming the field."""
    label = _LABELS.get(name, name)
    if name in TEXT_FIELDS:
        limit = validate.MAX_FIELD_CHARS * (2 if name in _MULTILINE else 1)
        return validate.check_text(value, label, required=False, max_chars=limit)
    if name == "task":
        return validate.check_choice(value, TASKS, label)
    if name == "label":
        return validate.check_choice(value, SENTIMENTS, label)
    if name == "third":
        return validate.check_choice(value, THIRD_MODES, label)
    if name in ("editor", "second_editor"):
        return validate.check_choice(value, editors, label)
    if name == "seen_index":
        return validate.check_int(value, 0, N_SEEN - 1, label)
    return validate.check_int(value, 1, MAX_NEW_TOKENS, label)  # max_new_tokens


def parse_query(params, editors: list[str]) -> tuple[dict, list[str]]:
    """(field -> value for every usable parameter, the problems with the others); unknown names are ignored."""
    values, problems = {}, []
    for name in FIELDS:
        raw = params.get(name)
        if raw is None:
            continue
        if len(raw) > MAX_QUERY_CHARS:
            problems.append(f"{_LABELS.get(name, name)}: the link's value is {len(raw)} characters long")
            continue
        try:
            values[name] = _check(name, raw.replace("\r\n", "\n"), editors)
        except InputError as err:
            problems.append(str(err))
    return values, problems
