"""The editor contract: what every editor (MEND with or without instructions, FT-L, no edit) offers.

This module owns one rule that decides behaviour everywhere: **which instruction an editor gets**. An
editor trained without instructions (MEND single-/multi-task, the baselines) is given none, whatever the
caller asked for, exactly as in its training; an instruct editor gets what was asked. Every entry point
(training, evaluation, the CLI, the app, direction collection) asks `editor.instruction_for(wanted)` or
goes through `editor_example`, never re-states the rule.
"""
from __future__ import annotations

import logging
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from ..data.records import EditRecord
from ..instructions import Instruction
from ..prompts import Example, build_example
from ..tokenize import DEFAULT_MAX_TOKENS, Batch, collate
from .edit import Edit

log = logging.getLogger(__name__)


@runtime_checkable
class EditorContract(Protocol):
    """`edit(model, batch) -> Edit`: one independent edit per batch row, the shared model untouched.

    `weight_names`: the edited weights; `first_block`: the lowest block they live in (the trunk below it is
    the same before and after any edit); `uses_instructions`: whether it was trained with instructions.
    Implementations subclass this Protocol to inherit `instruction_for`.
    """

    weight_names: list[str]
    first_block: int

    @property
    def uses_instructions(self) -> bool: ...

    def edit(self, model: nn.Module, batch: Batch, state=None, update_stats: bool = False, ride=None) -> Edit:
        """`ride`: a `step_search.RideAlong` an editor with an edit-time step search continues in its first check
        generation; an editor without one leaves it as it is (the caller then generates its rows)."""

    def instruction_for(self, wanted: Instruction | str | int | None) -> Instruction:
        """The instruction this editor is given when `wanted` is asked for (the one owner of the rule)."""
        chosen = wanted if isinstance(wanted, Instruction) else Instruction.parse(wanted)
        if self.uses_instructions or chosen.is_none:
            return chosen
        log.debug("%s was trained without instructions: given none instead of %s", type(self).__name__, chosen)
        return Instruction()

    def setting_for(self, wanted: str) -> str:
        """The name of the instruction setting this editor runs under when `wanted` is asked for: `wanted`
        itself, or "none" for an editor that is given no instruction (names result files and rows)."""
        return "none" if self.instruction_for(wanted).is_none else wanted


def editor_example(editor: EditorContract, record: EditRecord, tokenizer, wanted: Instruction | str | int | None,
                   catalog: dict | None = None, max_tokens: int = DEFAULT_MAX_TOKENS) -> Example:
    """The tokenised example of `record` as `editor` reads it (its instruction resolved by the contract)."""
    return build_example(record, tokenizer, editor.instruction_for(wanted), catalog, max_tokens)


def make_edits(model: nn.Module, editor: EditorContract, examples: list[Example], pad_id: int, ride=None) -> Edit:
    """One independent edit per example (row i of the result edits example i), from the base model;
    `ride`: prompts continued alongside the editor's step search, if it has one (`step_search.RideAlong`)."""
    with torch.no_grad():
        return editor.edit(model, collate([ex.edit for ex in examples], pad_id), ride=ride).detach()
