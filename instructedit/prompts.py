"""From a record and an instruction to token pairs: what the editor and the metrics read.

The instruction wraps edit, paraphrase and portability prompts, never locality prompts.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from .data.records import EditRecord
from .instructions import N_SEEN, Instruction, describe, render
from .tokenize import DEFAULT_MAX_TOKENS, encode_pair

Pair = tuple[list[int], list[int]]


@dataclass
class Example:
    """One tokenised record: edit pair, paraphrase / locality / portability pairs."""

    record: EditRecord
    description: str | None
    edit: Pair
    rephrases: list[Pair]
    locality: list[Pair]
    portability: list[Pair]
    contrast: list[Pair]
    plain: Pair | None = None  # the edit prompt without its instruction (None: the edit pair is already plain)

    @property
    def instruction_text(self) -> str | None:
        """The text every wrapped prompt of this example starts with, up to "Input:" (None: no instruction)."""
        if self.description is None:
            return None
        return wrap_prompt("", self.record, self.description).rstrip()


def wrap_prompt(prompt: str, record: EditRecord, description: str | None) -> str:
    """`prompt` in the instruction template, with the record's topic and label (unchanged without one)."""
    return render(prompt, record.task, description, topic=record.topic, label=record.label)


def training_instruction(record: EditRecord, seed: int) -> Instruction:
    """The seen instruction (0-8) drawn once per training record, seeded by the record's identity."""
    rng = random.Random(f"{seed}:{record.task}:{record.record_id}:{record.prompt}")
    return Instruction(index=rng.randrange(N_SEEN))


def build_example(record: EditRecord, tokenizer, instruction: Instruction, catalog: dict | None = None,
                  max_tokens: int = DEFAULT_MAX_TOKENS) -> Example:
    description = describe(record.task, instruction, catalog)

    def wrap(prompt: str) -> str:
        return wrap_prompt(prompt, record, description)

    def pair(prompt: str, target: str, name: str) -> Pair:
        return encode_pair(tokenizer, prompt, target, max_tokens, field_name=name)

    return Example(
        record=record, description=description,
        edit=pair(wrap(record.prompt), record.target, "prompt"),
        rephrases=[pair(wrap(r), record.target, f"rephrases[{i}]") for i, r in enumerate(record.rephrases)],
        locality=[pair(p.prompt, p.answer, f"locality[{i}]") for i, p in enumerate(record.locality)],
        portability=[pair(wrap(p.prompt), p.answer, f"portability[{i}]") for i, p in enumerate(record.portability)],
        contrast=[pair(wrap(record.prompt), c, f"contrast[{i}]") for i, c in enumerate(record.contrast)],
        plain=None if description is None else pair(record.prompt, record.target, "prompt"),
    )
