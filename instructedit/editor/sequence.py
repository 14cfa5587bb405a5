"""EditSequence: many edits on one model, edit k computed on the model as edited by edits 1..k-1.

The result is one cumulative `Edit` value (B = 1); the shared base weights never change. Every forward
(the editor's own gradient capture included) runs through the hook path `Edit.applied`, so the model may
be shared by threads. FT-L fits its ΔW on top of the active cumulative edit (`active_edit(..., stack=True)`).

Representation. Each live edit is kept as its own normalised single edit (α folded into δ̃, rows that
contribute nothing dropped). The cumulative low-rank factors would grow by N rows per edit, and the cost
of a forward with them linearly in the number of edits. So per edited weight the edits' rows are folded
into one dense output-space matrix M (in x out, float64: the output delta of the folded edits is x M),
written in the cumulative edit as factors with an identity on the smaller side (min(in, out) rows, as
FT-L writes its ΔW), followed by the rows of the edits not folded yet (the "tail"). A row costs in + out
multiply-adds per token, M costs in·out + min(in, out)². So the rows stay low-rank while they cost less
than M would (up to (in·out + min²)/(in + out) rows: 576 for SmolLM2's 576 x 1536 MLP weights, about
15 MEND edits); then they are folded, and from then on the tail is folded whenever it has more than
`fold_fraction` x min(in, out) rows (default 1/4: 144 rows, about 4 edits). Per token and edited weight
a forward costs at most in·out + min² + fold_fraction·min·(in + out) multiply-adds, whatever the number
of edits (for SmolLM2's MLP weights 1.7x the weight's own product; nine edited weights of thirty blocks:
about a tenth more per model forward); folding costs N·in·out per edit, once.

Exactness. Applying `cumulative()` equals applying the live edits one after another (to float rounding:
M is accumulated in float64). `undo(j)` of a folded edit subtracts its own uᵀδ̃ from M in float64 (of an
edit in the tail it just drops its rows), and M is dropped outright when no folded edit is left, so the
state after undo(j) is the state of the same edit values without j. Later edits stay as they were
computed (on the model that still had edit j).

Memory. Every undoable edit keeps its own factors (MEND: N rows x (in + out) floats per weight; FT-L:
a dense ΔW). `undo_depth=k` keeps only the last k edits undoable: an older edit is sealed, and once it
is folded its own factors are dropped (undo of it raises). `undo_depth=0` suits long evaluations.

MEND normalisation statistics stay frozen by default; `lifelong_stats=True` updates them at every edit
on the sequence's own copy of the editor's normalisers (the editor itself is never changed). Undo does
not roll statistics back: they are a running record of what was edited. `guard` (a
`guards.SequenceGuard`: step scale, norm cap, preserved-key projection) is applied to each new edit before it
is added (`edit_next`; `add` takes values as given). A guard's `resolve` (`resolve.KeySolve`) works inside
the editor instead: every new edit is re-solved against preserved keys and the keys of the sequence's earlier
edits (every position of their text, taken on the model as edited right after each edit, `KeyMemory`), before the
editor's step search scales it; undo drops the edit's keys from that prior exactly. With the re-solve's
`instruction_weight`, the instructions the live edits and the new one are wrapped in are preserved keys too.
"""
from __future__ import annotations

import copy
import logging
import math
import threading
from dataclasses import dataclass, replace

import torch
from torch import nn

from ..models import families
from ..prompts import Example
from ..tokenize import collate
from . import sequence_repair
from .contract import EditorContract
from .edit import Edit, EditFactor
from .guards import collect_keys_of_ids
from .hooks import active_edit
from .resolve import KeyMemory
from .sequence_values import Folded, check_shapes, dense_factor, normalised, product, with_own_norms

log = logging.getLogger(__name__)

FOLD_FRACTION = 0.25


@dataclass(frozen=True)
class SequenceEntry:
    """One live edit of a sequence: its stable index, label and normalised value (B = 1, α = 1)."""

    index: int
    label: str
    edit: Edit | None  # None once a sealed edit is folded for good (see `undo_depth`)
    examples: tuple[Example, ...] = ()  # what `edit_next` edited (the sequence's loop repair re-checks them)

    def __post_init__(self):
        if self.index < 0:
            raise ValueError(f"index must be >= 0, got {self.index}")
        if self.edit is not None and self.edit.batch_size != 1:
            raise ValueError(f"a sequence entry is one edit (B = 1), got B = {self.edit.batch_size}")


def _instructions_of(examples: list[Example]) -> list[str]:
    """The instruction texts `examples` are wrapped in (none for plain ones), distinct, in order."""
    return list(dict.fromkeys(ex.instruction_text for ex in examples if ex.instruction_text is not None))


class EditSequence:
    """Sequential edits of one shared model as one cumulative Edit (see the module docstring).

    Indices are 0-based, stable and never reused (not even after `reset`). Methods are serialised by a
    lock, so one sequence may be driven from several threads; `edit_next` holds it while it computes.
    """

    def __init__(self, model: nn.Module, editor: EditorContract, pad_id: int, *, lifelong_stats: bool = False,
                 fold_fraction: float | None = FOLD_FRACTION, undo_depth: int | None = None, guard=None):
        if not isinstance(pad_id, int):
            raise TypeError(f"pad_id must be an int, got {type(pad_id).__name__}")
        if fold_fraction is not None and not fold_fraction > 0:
            raise ValueError(f"fold_fraction must be > 0 (or None: never fold), got {fold_fraction}")
        if undo_depth is not None and undo_depth < 0:
            raise ValueError(f"undo_depth must be >= 0 (or None: every edit undoable), got {undo_depth}")
        self.model, self.editor, self.pad_id = model, editor, pad_id
        self.lifelong_stats, self.fold_fraction, self.undo_depth = lifelong_stats, fold_fraction, undo_depth
        self.guard = guard  # a guards.SequenceGuard applied to each new edit (None: none)
        self.device = families.device_of(model)
        self._lock = threading.RLock()
        self._next_index = 0
        self._reset_state()

    def _reset_state(self) -> None:
        self._entries: dict[int, SequenceEntry] = {}
        self._folded: dict[str, Folded] = {}
        self._tails: dict[str, list[int]] = {}  # per weight: the live edits not folded, in order
        self._unsealed: list[int] = []  # with undo_depth: the live undoable edits, in order
        self._sealed: set[int] = set()
        self._holding: set[int] = set()  # sealed edits whose factors are still kept
        self._cached: Edit | None = None
        self._own_norms = with_own_norms(self.editor) if self.lifelong_stats else None
        if self.lifelong_stats and self._own_norms is None:
            log.info("%s has no normalisation statistics: lifelong_stats has no effect", type(self.editor).__name__)
        self._keys = KeyMemory() if self._resolve is not None else None
        self._repairs = sequence_repair.RepairSchedule()

    @property
    def _resolve(self):
        """The guard's `KeySolve`, for editors that project their edits (MEND); None otherwise."""
        resolve = getattr(self.guard, "resolve", None)
        if resolve is not None and not hasattr(self.editor, "projection"):
            log.warning("%s does not project its edits: the guard's re-solve has no effect", type(self.editor).__name__)
            return None
        return resolve

    def editor_for(self, examples: list[Example]) -> EditorContract:
        """The editor the next edit (of `examples`) is computed with: its own normalisers (lifelong_stats), and with
        the guard's re-solve as its projection, the earlier edits' keys as the prior and the instructions of the
        earlier edits and of `examples` preserved (a view; the editor is not changed)."""
        editor = self.editor if self._own_norms is None else self._own_norms
        if self._keys is None:
            return editor
        view = copy.copy(editor)
        texts = self._keys.instructions() + _instructions_of(examples)  # a text twice counts once (`gram`)
        view.projection = self._resolve.with_prior(self._keys.gram()).with_instructions(texts)
        return view

    def _remember_keys(self, index: int, examples: list[Example]) -> None:
        """Edit `index`'s keys (every position of its examples' text) under the cumulative edit, for later edits."""
        with torch.no_grad(), active_edit(self.model, self.cumulative()):
            keys = collect_keys_of_ids(self.model, self.editor.weight_names, [ex.edit[0] for ex in examples])
        self._keys.add(index, keys, tuple(_instructions_of(examples)))
        if index in self._sealed:
            self._keys.seal(index)

    # ---- reading ----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._entries)

    @property
    def indices(self) -> list[int]:
        """The live edit indices, in the order they were made."""
        with self._lock:
            return list(self._entries)

    @property
    def entries(self) -> list[SequenceEntry]:
        with self._lock:
            return list(self._entries.values())

    def entry(self, index: int) -> SequenceEntry:
        with self._lock:
            if index not in self._entries:
                raise KeyError(f"edit {index} is not in the sequence (live: {list(self._entries)})")
            return self._entries[index]

    def undoable(self, index: int) -> bool:
        with self._lock:
            return index in self._entries and index not in self._sealed

    def cumulative(self) -> Edit | None:
        """The sum of all live edits as one Edit (B = 1, α = 1), None if there are none."""
        with self._lock:
            if not self._entries:
                return None
            if self._cached is None:
                self._cached = self._build()
            return self._cached

    def folded_count(self, name: str) -> int:
        """How many live edits of weight `name` are folded into its dense matrix."""
        with self._lock:
            return len(self._folded[name].members) if name in self._folded else 0

    def nbytes(self) -> int:
        """Bytes held: the kept per-edit factors and the dense matrices."""
        with self._lock:
            kept = sum(e.edit.nbytes() for e in self._entries.values() if e.edit is not None)
            return kept + sum(f.dense.numel() * f.dense.element_size() for f in self._folded.values())

    # ---- editing ----------------------------------------------------------------------------------
    def compute_next(self, examples: list[Example]) -> Edit:
        """The editor's edit of `examples` (B = len(examples), one per example) on the model as edited by
        the live edits; nothing is added."""
        if not examples:
            raise ValueError("compute_next needs at least one example")
        batch = collate([ex.edit for ex in examples], self.pad_id)
        with self._lock:
            current = self.cumulative()
            editor = self.editor_for(examples)
            with torch.no_grad(), active_edit(self.model, current):
                # the trunk below first_block is the same under any edit (edits touch the top blocks only);
                # the editor's gradient capture runs the top blocks with `current` active
                return editor.edit(self.model, batch, update_stats=self._own_norms is not None).detach()

    def edit_next(self, examples: list[Example], label: str = "") -> int:
        """One edit of all `examples` together (merged, a batch edit) computed on the model as edited by
        the edits so far; returns its index (0-based, stable even after undo of others)."""
        with self._lock:
            edit = self.compute_next(examples).merged()
            if self.guard is not None:
                edit = self.guard.apply(edit)
            index = self.add(edit, label or ",".join(ex.record.record_id or ex.record.prompt for ex in examples))
            self._entries[index] = replace(self._entries[index], examples=tuple(examples))
            if self._keys is not None:
                self._remember_keys(index, examples)
            every = getattr(self.guard, "repair_every", 0)
            if every and (index + 1) % every == 0:
                self.repair_loops()
            return index

    def repair_loops(self) -> dict[int, float]:
        """Repair the kept edits that now loop (`sequence_repair.repair_kept_edits`, with the editor's repair
        settings and this sequence's schedule of edits no scale mended); returns {index: scale} of the edits
        amended. A guard's `repair_every` runs it every so many edits."""
        with self._lock:
            return sequence_repair.repair_kept_edits(self, *sequence_repair.repair_settings(self.editor),
                                                     schedule=self._repairs)

    def amend(self, index: int, extra: Edit) -> None:
        """Add `extra` (B = 1, the weights edit `index` changes) to live edit `index`: the cumulative edit gains it
        and undo(index) removes both exactly (the sequence's loop repair amends earlier edits this way)."""
        value = normalised(extra, self.device)
        check_shapes(self.model, value)
        with self._lock:
            entry = self.entry(index)
            for name in value.names:
                if not (self.is_folded(index, name) or index in self._tails.get(name, [])):
                    raise ValueError(f"amend: edit {index} does not change {name}")
            if entry.edit is not None:
                both = entry.edit.compose(value)
                self._entries[index] = replace(entry, edit=normalised(Edit(both.factors, entry.edit.meta), self.device))
            self._cached = None
            for name, factor in value.factors.items():
                if self.is_folded(index, name):
                    self._folded[name].dense += product(factor)
                else:
                    self._fold_if_needed(name)

    def add(self, edit: Edit, label: str = "") -> int:
        """Append an already computed single edit (B = 1); returns its index."""
        value = normalised(edit, self.device)
        check_shapes(self.model, value)
        with self._lock:
            index = self._next_index
            self._entries[index] = SequenceEntry(index, label, value)
            self._next_index += 1
            self._cached = None
            for name in value.names:
                self._tails.setdefault(name, []).append(index)
            names = list(value.names)
            if self.undo_depth is not None:
                self._unsealed.append(index)
                while len(self._unsealed) > self.undo_depth:
                    sealed = self._unsealed.pop(0)
                    self._sealed.add(sealed)
                    if self._keys is not None:
                        self._keys.seal(sealed)
                    self._holding.add(sealed)
                    names += self._entries[sealed].edit.names
            for name in dict.fromkeys(names):
                self._fold_if_needed(name)
            self._drop_sealed()
            return index

    def undo(self, index: int) -> None:
        """Remove edit `index` exactly; later edits stay as they were computed."""
        with self._lock:
            entry = self.entry(index)
            if index in self._sealed:
                raise ValueError(f"edit {index} is older than the last {self.undo_depth} edits (undo_depth) "
                                 f"and cannot be undone")
            del self._entries[index]
            if self._keys is not None:
                self._keys.drop(index)
            self._repairs.forget(index)
            if index in self._unsealed:
                self._unsealed.remove(index)
            self._cached = None
            for name, factor in entry.edit.factors.items():
                folded = self._folded.get(name)
                if folded is None or index not in folded.members:
                    self._tails[name].remove(index)
                    continue
                folded.members.discard(index)
                if folded.members:
                    folded.dense -= product(factor)
                else:
                    del self._folded[name]

    def undo_last(self) -> None:
        with self._lock:
            if not self._entries:
                raise IndexError("undo_last: the sequence is empty")
            self.undo(next(reversed(self._entries)))

    def reset(self) -> None:
        """Remove every edit (and, with lifelong_stats, start the statistics again from the editor's)."""
        with self._lock:
            self._reset_state()

    # ---- folding ----------------------------------------------------------------------------------
    def _tail(self, name: str) -> list[SequenceEntry]:
        """The live edits of weight `name` whose rows are not folded, in order."""
        return [self._entries[i] for i in self._tails.get(name, [])]

    def _fold_limit(self, name: str, factor: EditFactor) -> float:
        """The most tail rows of `name` kept low-rank: as many as cost what the dense matrix costs while
        there is none, then fold_fraction x min(in, out)."""
        if self.fold_fraction is None:
            return float("inf")
        n_in, n_out = factor.u.shape[-1], factor.d.shape[-1]
        small = min(n_in, n_out)
        if name not in self._folded:
            return math.ceil((n_in * n_out + small * small) / (n_in + n_out))
        return max(1, int(self.fold_fraction * small))

    def _fold_if_needed(self, name: str) -> None:
        """Fold the tail of `name` into its dense matrix once it has too many rows (`_fold_limit`), or
        when it holds a sealed edit (whose factors are then dropped)."""
        tail = self._tail(name)
        rows = sum(e.edit.factors[name].u.shape[1] for e in tail)
        if not tail or (rows <= self._fold_limit(name, tail[-1].edit.factors[name])
                        and not any(e.index in self._sealed for e in tail)):
            return
        folded = self._folded.get(name)
        for entry in tail:
            dense = product(entry.edit.factors[name])
            if folded is None:
                folded = self._folded[name] = Folded(dense)
            else:
                folded.dense += dense
            folded.members.add(entry.index)
        self._tails[name] = []
        log.debug("folded %d edits of %s (%d folded in all)", len(tail), name, len(folded.members))

    def _drop_sealed(self) -> None:
        """Drop the factors of sealed edits that are folded in every weight they touch."""
        for index in list(self._holding):
            entry = self._entries[index]
            if all(self.is_folded(index, n) for n in entry.edit.names):
                self._entries[index] = replace(entry, edit=None)
                self._holding.discard(index)

    def is_folded(self, index: int, name: str) -> bool:
        """Whether the rows of edit `index` for weight `name` are folded into its dense matrix."""
        return name in self._folded and index in self._folded[name].members

    def _build(self) -> Edit:
        names = list(dict.fromkeys([*self._folded, *(n for n, tail in self._tails.items() if tail)]))
        factors = {}
        for name in names:
            us, ds = [], []
            if name in self._folded:
                u, d = dense_factor(self._folded[name].dense)
                us.append(u)
                ds.append(d)
            for entry in self._tail(name):
                us.append(entry.edit.factors[name].u[0])
                ds.append(entry.edit.factors[name].d[0])
            factors[name] = EditFactor(torch.cat(us).unsqueeze(0), torch.cat(ds).unsqueeze(0),
                                       torch.ones((), device=self.device))
        meta = {"sequence": list(self._entries), "labels": [e.label for e in self._entries.values()]}
        return Edit(factors, meta)
