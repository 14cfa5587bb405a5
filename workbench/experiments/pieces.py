"""Evaluation pieces: one (editor, instruction, task) evaluation, kept on disk and shared by every experiment.

Table 3, Fig. 3, Fig. 2c and the instruction sweep evaluate some of the same (editor, instruction, task)
triples; each is computed once. Records are scored independently (each edit from the base weights), so a
piece over the first N records also answers a request for the first M <= N.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from instructedit.evaluation.evaluate import summarise
from instructedit.instructions import Instruction
from instructedit.io import atomic_write_json


def instruction_key(instruction: str) -> str:
    """A file-name-safe key for an instruction setting: none, d<index> or text-<hash>."""
    parsed = Instruction.parse(instruction)
    if parsed.is_none:
        return "none"
    if parsed.index is not None:
        return f"d{parsed.index}"
    return "text-" + hashlib.sha256(parsed.text.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class Piece:
    root: Path            # runs/eval/pieces
    editor: str
    instruction: str      # an instruction setting (seen | unseen | none | index | text)
    task: str

    @property
    def path(self) -> Path:
        return self.root / self.editor / instruction_key(self.instruction) / f"{self.task}.json"

    def load(self, limit: int | None, source: str) -> list[dict] | None:
        """The per-record scores of the first `limit` records (all: None) made with the editor at `source`;
        None if not computed yet (or computed with another checkpoint of this editor)."""
        if not self.path.is_file():
            return None
        stored = json.loads(self.path.read_text())
        if stored["source"] != source:
            return None
        exhausted = stored["limit"] is None or len(stored["records"]) < stored["limit"]  # the whole split
        covers = exhausted or (limit is not None and stored["limit"] >= limit)
        if not covers:
            return None
        return stored["records"] if limit is None else stored["records"][:limit]

    def save(self, limit: int | None, records: list[dict], source: str, cpu_seconds: float) -> None:
        atomic_write_json(self.path, {"editor": self.editor, "source": source, "instruction": self.instruction,
                                      "task": self.task, "limit": limit, "cpu_seconds": cpu_seconds,
                                      "records": records})


def pieces_summary(root: Path) -> dict:
    """Every stored piece: which checkpoint made it, on how many records, at what CPU cost."""
    rows = {}
    for path in sorted(root.glob("*/*/*.json")):
        stored = json.loads(path.read_text())
        rows[str(path.relative_to(root))] = {"source": stored["source"], "records": len(stored["records"]),
                                             "cpu_seconds": stored.get("cpu_seconds")}
    return rows


def assemble(instruction: str, per_task: list[list[dict]]) -> dict:
    """Pieces of one (editor, instruction) over several tasks -> the result `evaluate` would have returned."""
    records = [r for rows in per_task for r in rows]
    return {"instruction": instruction, "summary": summarise(records), "records": records}
