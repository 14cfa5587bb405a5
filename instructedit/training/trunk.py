"""The trunk cache: hidden states entering the first edited block, computed once per input.

The base model is frozen and only the last blocks are edited, so everything below the first edited
block is the same at every training step. With `store` set, states persist on disk in safetensors
shards keyed by (base-weight fingerprint, first block, token ids), so every editor trained on the same
model shares them. With the cache off, `state` runs the honest full trunk forward for every batch.
"""
from __future__ import annotations

import hashlib
import logging
import uuid
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from ..editor.forward import trunk
from ..io import atomic_save_tensors
from ..models import families
from ..models.families import BlockInput

log = logging.getLogger(__name__)


class TrunkCache:
    def __init__(self, model: nn.Module, start: int, pad_id: int, enabled: bool = True, batch_size: int = 32,
                 store: Path | None = None):
        self.model, self.start, self.pad_id = model, start, pad_id
        self.enabled, self.batch_size = enabled, batch_size
        self._hidden: dict[tuple[int, ...], torch.Tensor] = {}
        self.store = Path(store) if store is not None and enabled else None
        self._stored: dict[str, torch.Tensor] = self._load_store() if self.store else {}

    @staticmethod
    def key(seq) -> str:
        return hashlib.sha1(torch.tensor(list(seq), dtype=torch.int64).numpy().tobytes()).hexdigest()

    def _load_store(self) -> dict[str, torch.Tensor]:
        stored: dict[str, torch.Tensor] = {}
        for shard in sorted(self.store.glob("shard-*.safetensors")):
            stored.update(load_file(str(shard)))
        if stored:
            log.info("trunk cache: %d stored states from %s", len(stored), self.store)
        return stored

    def __len__(self) -> int:
        return len(self._hidden)

    def _pad(self, seqs: list[list[int]]) -> torch.Tensor:
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, :len(s)] = torch.tensor(s)
        return ids.to(families.device_of(self.model))

    @torch.no_grad()
    def fill(self, seqs: list[list[int]], progress=None) -> None:
        """Compute and keep the trunk output of every new sequence (batched by similar length)."""
        if not self.enabled:
            return
        todo = sorted({tuple(s) for s in seqs if tuple(s) not in self._hidden}, key=len)
        if self._stored:
            for s in [s for s in todo if self.key(s) in self._stored]:
                self._hidden[s] = self._stored[self.key(s)]
            todo = [s for s in todo if s not in self._hidden]
            if progress is not None:
                progress.update(len({tuple(s) for s in seqs}) - len(todo))
        for i in range(0, len(todo), self.batch_size):
            chunk = todo[i:i + self.batch_size]
            hidden = trunk(self.model, self._pad([list(s) for s in chunk]), self.start).hidden
            for j, s in enumerate(chunk):
                self._hidden[s] = hidden[j, :len(s)].clone()
            if self.store is not None:
                shard = {self.key(s): self._hidden[s] for s in chunk}
                atomic_save_tensors(shard, self.store / f"shard-{uuid.uuid4().hex}.safetensors")
            if progress is not None:
                progress.update(len(chunk))

    def state(self, seqs: list[list[int]]) -> BlockInput:
        """The right-padded hidden states for `seqs` (from the cache, or a fresh trunk forward when off)."""
        if not self.enabled:
            return trunk(self.model, self._pad(seqs), self.start)
        missing = [s for s in seqs if tuple(s) not in self._hidden]
        if missing:
            self.fill(missing)
        width = max(len(s) for s in seqs)
        first = self._hidden[tuple(seqs[0])]
        hidden = first.new_zeros((len(seqs), width, first.shape[-1]))
        for i, s in enumerate(seqs):
            hidden[i, :len(s)] = self._hidden[tuple(s)]
        return families.state_from_hidden(self.model, hidden)
