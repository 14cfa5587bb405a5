"""Loaders for the formats real users have, each producing validated EditRecords; a format registry.

Formats: EasyEdit/MEND CounterFact (`counterfact`), MEND zsRE (`zsre`), this project's synthetic
KnowEdit-like Recent (`recent`) and ConvSent (`convsent`), KnowEdit WikiData-Recent (`knowedit-recent`) and
WikiData-CounterFact (`knowedit-counterfact`, both in `knowedit.py`) and SERAC ConvSent (`convsent-blender`,
in `convsent.py`). Every error names the file, the record index and the field.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .convsent import parse_convsent_blender
from .fields import Fields as _Fields
from .knowedit import parse_knowedit_counterfact, parse_knowedit_recent
from .records import EditRecord, Probe, RecordError

log = logging.getLogger(__name__)

ZSRE_LOC_PREFIX = "nq question: "


def _first_answer(ground_truth: Any, field_name: str) -> str:
    """KnowEdit answers are a string, a list of aliases, or a list of alias lists: take the first."""
    value = ground_truth
    while isinstance(value, list):
        if not value:
            raise RecordError("is an empty list", field_name=field_name)
        value = value[0]
    if not isinstance(value, str):
        raise RecordError(f"must hold strings, got {type(value).__name__}", field_name=field_name)
    return value


def _knowedit_probes(raw: dict, key: str) -> tuple[Probe, ...]:
    groups = raw.get(key) or {}
    if not isinstance(groups, dict):
        raise RecordError("must be an object of named probe lists", field_name=key)
    probes = []
    for group, items in groups.items():
        items = [items] if isinstance(items, dict) else items
        if not isinstance(items, list):
            raise RecordError("must be a list of {prompt, ground_truth}", field_name=f"{key}.{group}")
        for i, item in enumerate(items):
            where = f"{key}.{group}[{i}]"
            if not isinstance(item, dict):
                raise RecordError("must be an object with prompt and ground_truth", field_name=where)
            prompts = item.get("prompt")
            prompts = prompts if isinstance(prompts, list) else [prompts]
            answer = _first_answer(item.get("ground_truth"), f"{where}.ground_truth")
            for prompt in prompts:
                if not isinstance(prompt, str):
                    raise RecordError("must be a string", field_name=f"{where}.prompt")
                probes.append(Probe(prompt, answer))
    return tuple(probes)


def parse_counterfact(raw: Any, index: int) -> EditRecord:
    f = _Fields(raw)
    return EditRecord(
        task="counterfact", prompt=f.text("prompt"), target=f.text("target_new"),
        record_id=f.text("case_id", str(index)), subject=f.text("subject", ""),
        ground_truth=f.text("ground_truth", ""), rephrases=f.texts("rephrase_prompt"),
        locality=(Probe(f.text("locality_prompt"), f.text("locality_ground_truth")),)
        if "locality_prompt" in f.raw else (),
    )


def parse_zsre(raw: Any, index: int) -> EditRecord:
    f = _Fields(raw)
    loc = f.text("loc")
    loc = loc.removeprefix(ZSRE_LOC_PREFIX)
    answers = f.texts("answers")
    return EditRecord(
        task="zsre", prompt=f.text("src"), target=f.text("alt"), record_id=f.text("case_id", str(index)),
        subject=f.text("subject", ""), ground_truth=answers[0] if answers else "",
        rephrases=f.texts("rephrase"), locality=(Probe(loc, f.text("loc_ans")),),
    )


def parse_recent(raw: Any, index: int) -> EditRecord:
    f = _Fields(raw)
    return EditRecord(
        task="recent", prompt=f.text("prompt"), target=f.text("target_new"), record_id=f.text("id", str(index)),
        subject=f.text("subject", ""), ground_truth=f.text("ground_truth", "") if isinstance(
            f.raw.get("ground_truth"), (str, type(None))) else "",
        rephrases=f.texts("rephrase"), locality=_knowedit_probes(f.raw, "locality"),
        portability=_knowedit_probes(f.raw, "portability"),
        meta={"relation": f.raw.get("relation", "")},
    )


def parse_convsent(raw: Any, index: int) -> EditRecord:
    f = _Fields(raw)
    label = f.text("label")
    prompts = f.texts("prompts")
    if not prompts:
        raise RecordError("must hold at least one question", field_name="prompts")
    responses = f.raw.get("responses")
    if not isinstance(responses, dict) or not isinstance(responses.get(label), list) or not responses[label]:
        raise RecordError(f"must map {label!r} to a non-empty list of responses", field_name="responses")
    other = "negative" if label == "positive" else "positive"
    contrast = responses.get(other) or []
    if not isinstance(contrast, list) or not all(isinstance(c, str) for c in contrast):
        raise RecordError(f"'{other}' must be a list of strings", field_name="responses")
    loc = f.raw.get("locality") or []
    if not isinstance(loc, list) or not all(isinstance(p, dict) for p in loc):
        raise RecordError("must be a list of {prompt, answer}", field_name="locality")
    return EditRecord(
        task="convsent", prompt=prompts[0], target=responses[label][0], record_id=f.text("id", str(index)),
        subject=f.text("topic"), topic=f.text("topic"), label=label, rephrases=prompts[1:],
        contrast=tuple(contrast), locality=tuple(Probe(p.get("prompt"), p.get("answer")) for p in loc),
    )


FORMATS: dict[str, Callable[[Any, int], EditRecord]] = {
    "counterfact": parse_counterfact,
    "zsre": parse_zsre,
    "recent": parse_recent,
    "convsent": parse_convsent,
    "knowedit-recent": parse_knowedit_recent,
    "knowedit-counterfact": parse_knowedit_counterfact,
    "convsent-blender": parse_convsent_blender,
}


@dataclass(frozen=True)
class Signature:
    """A format is recognised when a record has all `keys` (not null); `keys[0]` is the telling field."""

    format: str
    keys: tuple[str, ...]


# first match wins: the specific formats before the ones whose keys they share
SIGNATURES = (
    Signature("zsre", ("alt", "src")),
    Signature("counterfact", ("rephrase_prompt", "target_new")),
    Signature("counterfact", ("locality_prompt", "target_new")),
    Signature("convsent", ("responses", "topic")),
    Signature("convsent-blender", ("ent", "pos")),
    Signature("convsent-blender", ("ent", "neg")),
    Signature("recent", ("rephrase", "target_new")),  # the project's synthetic set has paraphrases
    Signature("knowedit-counterfact", ("ground_truth", "target_new", "locality")),
    Signature("knowedit-counterfact", ("ground_truth", "target_new", "portability")),
    Signature("knowedit-recent", ("locality", "target_new")),
    Signature("knowedit-recent", ("portability", "target_new")),
    Signature("counterfact", ("target_new", "prompt")),
)


def _signature(raw: Any) -> Signature:
    if isinstance(raw, dict):
        for sig in SIGNATURES:
            if all(raw.get(key) is not None for key in sig.keys):
                return sig
    raise RecordError(f"format not recognised; pass one of {', '.join(FORMATS)} explicitly")


def detect_format(raw: Any) -> str:
    return _signature(raw).format


def check_format(path: str | Path, fmt: str) -> int:
    """Raise RecordError (file, record, telling field) at the first record whose detected format is not
    `fmt`; return the number of records checked."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown data format {fmt!r}; expected one of {', '.join(FORMATS)}")
    raw_records = read_json_list(path)
    for index, raw in enumerate(raw_records):
        try:
            sig = _signature(raw)
        except RecordError as err:
            raise RecordError(err.args[0], source=str(path), index=index) from None
        if sig.format != fmt:
            raise RecordError(f"looks like format {sig.format!r}, not {fmt!r}", source=str(path), index=index,
                              field_name=sig.keys[0])
    return len(raw_records)


def detect_file_format(path: str | Path, fmt: str | None = None) -> str:
    """The format of a data file: detected from its first record, or `fmt` when given; either way every
    record must be of it (RecordError naming the file, the record and the telling field otherwise)."""
    raw_records = read_json_list(path)
    if not raw_records:
        raise RecordError("holds no records", source=str(path))
    if fmt is None:
        try:
            fmt = detect_format(raw_records[0])
        except RecordError as err:
            raise RecordError(err.args[0], source=str(path), index=0) from None
    check_format(path, fmt)
    return fmt


def read_json_list(path: str | Path) -> list:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"data file {path} does not exist") from None
    except UnicodeDecodeError as err:
        raise RecordError(f"is not UTF-8 text ({err.reason})", source=str(path)) from None
    try:
        data = json.loads(text) if path.suffix != ".jsonl" else [
            json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as err:
        raise RecordError(f"is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}",
                          source=str(path)) from None
    if not isinstance(data, list):
        raise RecordError(f"must hold a JSON list of records, got {type(data).__name__}", source=str(path))
    return data


def parse_records(raw_records: list, fmt: str | None = None, source: str = "", *, start: int = 0,
                  skip_invalid: bool = False) -> list[EditRecord]:
    """Parse raw records; `start` is the index of the first one in its file (for messages and ids).

    With `skip_invalid`, a record that cannot be an edit (for example an empty target) is logged with
    its file, index and field and left out; otherwise the first bad record raises RecordError.
    """
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"unknown data format {fmt!r}; expected one of {', '.join(FORMATS)}")
    records = []
    for index, raw in enumerate(raw_records, start=start):
        try:
            parse = FORMATS[fmt or detect_format(raw)]
            records.append(parse(raw, index))
        except RecordError as err:
            located = RecordError(err.args[0].split(": ", 1)[-1] if err.field_name else err.args[0],
                                  source=source, index=index, field_name=err.field_name)
            if not skip_invalid:
                raise located from None
            log.warning("skipped invalid record: %s", located)
    return records


def load_records(path: str | Path, fmt: str | None = None, *, start: int = 0, stop: int | None = None,
                 skip_invalid: bool = False) -> list[EditRecord]:
    """Read records [start, stop) of a data file (JSON list or JSON lines) into validated EditRecords.

    `fmt` is detected from the first record when None. Record ids default to the index in the file.
    """
    raw = read_json_list(path)[start:stop]
    return parse_records(raw, fmt, source=str(path), start=start, skip_invalid=skip_invalid)
