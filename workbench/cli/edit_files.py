"""Edit files for `edit --file` and `ask --edits`: many edits, read and validated before any model load.

A file is either *edit rows* (format `edits`): a .csv with the columns prompt,target[,task,subject,rephrase,
locality_prompt,locality_answer,topic,label,id], or a .json list / .jsonl of objects with those keys (in JSON
`rephrase` may be a list, and `rephrases` / `locality` ([{prompt, answer}]) are accepted as in
assets/examples.json); or a file of any data format the loaders know (CounterFact, KnowEdit, zsRE, ConvSent,
...). The format is detected unless given; every error names the file, the record and the field.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from instructedit.data.loaders import FORMATS, detect_file_format, load_records, read_json_list
from instructedit.data.records import EditRecord, Probe, RecordError

ROW_FORMAT = "edits"
FILE_FORMATS = (ROW_FORMAT, *FORMATS)
ROW_FIELDS = ("prompt", "target", "task", "subject", "rephrase", "rephrases", "locality_prompt", "locality_answer",
              "locality", "topic", "label", "id", "name")


def _texts(value: Any) -> tuple:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list) else (value,)


def _locality(row: dict) -> tuple[Probe, ...]:
    probes = []
    if ("locality_prompt" in row) != ("locality_answer" in row):
        missing = "locality_answer" if "locality_prompt" in row else "locality_prompt"
        raise RecordError("locality_prompt and locality_answer go together", field_name=missing)
    if "locality_prompt" in row:
        probes.append(Probe(row["locality_prompt"], row["locality_answer"]))
    items = row.get("locality") or []
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise RecordError("must be a list of {prompt, answer}", field_name="locality")
    return tuple(probes) + tuple(Probe(item.get("prompt"), item.get("answer")) for item in items)


def row_record(raw: Any, index: int, default_task: str, source: str) -> EditRecord:
    """One edit row as an EditRecord; RecordError naming the file, the record and the field otherwise."""
    try:
        if not isinstance(raw, dict):
            raise RecordError(f"must be an object with prompt and target, got {type(raw).__name__}")
        unknown = sorted(set(raw) - set(ROW_FIELDS))
        if unknown:
            raise RecordError(f"unknown field(s) {', '.join(unknown)}; known: {', '.join(ROW_FIELDS)}",
                              field_name=unknown[0])
        row = {key: value for key, value in raw.items() if value not in (None, "")}  # empty CSV cells
        return EditRecord(
            task=row.get("task", default_task), prompt=row.get("prompt", ""), target=row.get("target", ""),
            record_id=str(row.get("id", row.get("name", index))), subject=row.get("subject", ""),
            rephrases=_texts(row.get("rephrase")) + _texts(row.get("rephrases")), locality=_locality(row),
            topic=row.get("topic", ""), label=row.get("label", ""))
    except RecordError as err:
        message = err.args[0].split(": ", 1)[-1] if err.field_name else err.args[0]
        raise RecordError(message, source=source, index=index, field_name=err.field_name) from None


def _csv_rows(path: Path) -> list[dict]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
    except UnicodeDecodeError as err:
        raise RecordError(f"is not UTF-8 text ({err.reason})", source=str(path)) from None
    except csv.Error as err:
        raise RecordError(f"is not valid CSV ({err})", source=str(path)) from None
    missing = [name for name in ("prompt", "target") if name not in (reader.fieldnames or ())]
    if missing:
        raise RecordError(f"needs a header row with the columns prompt,target (missing: {', '.join(missing)})",
                          source=str(path))
    for index, row in enumerate(rows):
        if None in row:  # more cells than header columns
            raise RecordError("has more cells than the header has columns", source=str(path), index=index)
    return rows


def is_row(raw: Any) -> bool:
    return isinstance(raw, dict) and "target" in raw and "target_new" not in raw


def read_edit_file(path: str | Path, fmt: str | None = None, default_task: str = "counterfact",
                   limit: int | None = None) -> list[EditRecord]:
    """The first `limit` edits of a file (all when None): edit rows, or a data file of a loader format."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        if fmt not in (None, ROW_FORMAT):
            raise RecordError(f"is a CSV file of edit rows, not format {fmt!r}", source=str(path))
        return [row_record(row, i, default_task, str(path)) for i, row in enumerate(_csv_rows(path)[:limit])]
    raw = read_json_list(path)
    if not raw:
        raise RecordError("holds no records", source=str(path))
    if fmt == ROW_FORMAT or (fmt is None and is_row(raw[0])):
        return [row_record(row, i, default_task, str(path)) for i, row in enumerate(raw[:limit])]
    fmt = detect_file_format(path, fmt)
    # a data set's file: records that cannot be an edit (an empty target) are logged and left out, as in eval
    return load_records(path, fmt, stop=limit, skip_invalid=True)
