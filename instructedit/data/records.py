"""EditRecord: the one record type every task's loader produces."""
from __future__ import annotations

from dataclasses import dataclass, field

TASKS = ("counterfact", "recent", "convsent", "zsre")
SENTIMENTS = ("positive", "negative")
# where a probe comes from: KnowEdit's categories, a fact about another subject ("unrelated"),
# or the same relation asked of another subject of the same split ("neighbour"); "" = not said
PROBE_KINDS = ("Subject_Aliasing", "Reasoning", "Logical_Generalization", "Relation_Specificity",
               "Forgetfulness", "unrelated", "neighbour")


class RecordError(ValueError):
    """A record that fails validation; the message names the source, index and field."""

    def __init__(self, message: str, *, source: str = "", index: int | None = None, field_name: str = ""):
        where = ", ".join(
            part for part in (
                f"file {source}" if source else "",
                f"record {index}" if index is not None else "",
                f"field '{field_name}'" if field_name else "",
            ) if part
        )
        super().__init__(f"{where}: {message}" if where else message)
        self.source, self.index, self.field_name = source, index, field_name


@dataclass(frozen=True)
class Probe:
    """A (prompt, answer) pair used for locality and portability checks.

    `aliases` are all accepted answers (when given, `aliases[0] == answer`); `kind` is one of
    PROBE_KINDS, or "" where the source does not say.
    """

    prompt: str
    answer: str
    aliases: tuple[str, ...] = ()
    kind: str = ""


@dataclass(frozen=True)
class EditRecord:
    """One edit request: make the model answer `prompt` with `target`.

    `rephrases` test generalization, `locality` pairs are unrelated facts that must not change,
    `portability` pairs are related (multi-hop) facts that should follow the edit. ConvSent records
    carry `topic`, `label` (the requested sentiment) and `contrast` responses of the other sentiment.
    """

    task: str
    prompt: str
    target: str
    record_id: str = ""
    subject: str = ""
    ground_truth: str = ""
    rephrases: tuple[str, ...] = ()
    locality: tuple[Probe, ...] = ()
    portability: tuple[Probe, ...] = ()
    topic: str = ""
    label: str = ""
    contrast: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self):
        validate_record(self)


MAX_TEXT_CHARS = 20_000


def _check_text(value, name: str, *, allow_empty: bool = False) -> None:
    if not isinstance(value, str):
        raise RecordError(f"must be a string, got {type(value).__name__}", field_name=name)
    if not allow_empty and not value.strip():
        raise RecordError("must not be empty or blank", field_name=name)
    if len(value) > MAX_TEXT_CHARS:
        raise RecordError(f"is {len(value)} characters long; the limit is {MAX_TEXT_CHARS}", field_name=name)


check_text = _check_text


def validate_probe(probe, name: str) -> None:
    """A Probe's fields are text; `aliases` is a tuple of texts led by `answer`; `kind` is known."""
    if not isinstance(probe, Probe):
        raise RecordError("must be a Probe(prompt, answer)", field_name=name)
    _check_text(probe.prompt, f"{name}.prompt")
    _check_text(probe.answer, f"{name}.answer")
    if not isinstance(probe.aliases, tuple):
        raise RecordError(f"must be a tuple of strings, got {type(probe.aliases).__name__}",
                          field_name=f"{name}.aliases")
    for i, alias in enumerate(probe.aliases):
        _check_text(alias, f"{name}.aliases[{i}]")
    if probe.aliases and probe.aliases[0] != probe.answer:
        raise RecordError(f"must start with the answer {probe.answer!r}", field_name=f"{name}.aliases")
    if probe.kind != "" and probe.kind not in PROBE_KINDS:
        raise RecordError(f"unknown kind {probe.kind!r}; expected one of {', '.join(PROBE_KINDS)}",
                          field_name=f"{name}.kind")


def validate_record(rec: EditRecord) -> None:
    if rec.task not in TASKS:
        raise RecordError(f"unknown task {rec.task!r}; expected one of {', '.join(TASKS)}", field_name="task")
    _check_text(rec.prompt, "prompt")
    _check_text(rec.target, "target")
    for name in ("record_id", "subject", "ground_truth", "topic", "label"):
        _check_text(getattr(rec, name), name, allow_empty=True)
    for i, text in enumerate(rec.rephrases):
        _check_text(text, f"rephrases[{i}]")
    for i, text in enumerate(rec.contrast):
        _check_text(text, f"contrast[{i}]")
    for group in ("locality", "portability"):
        for i, probe in enumerate(getattr(rec, group)):
            validate_probe(probe, f"{group}[{i}]")
    if rec.task == "convsent":
        if rec.label not in SENTIMENTS:
            raise RecordError(f"must be 'positive' or 'negative', got {rec.label!r}", field_name="label")
        _check_text(rec.topic, "topic")
