"""Prompt + target in one tokenisation, with the target tokens as labels; right-padded batches."""
from __future__ import annotations

from dataclasses import dataclass

import torch

IGNORE = -100
DEFAULT_MAX_TOKENS = 256


@dataclass
class Batch:
    """Right-padded token batch. `labels` holds the target token ids at target positions, IGNORE elsewhere."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    @property
    def predict_mask(self) -> torch.Tensor:
        """[B, T-1] True where the logit at position p predicts a label at p+1."""
        return self.labels[:, 1:] != IGNORE

    @property
    def edit_rows(self) -> torch.Tensor:
        """[B, T] True at the positions that carry gradient for the loss: up to the last predicting one."""
        last = self.predict_mask.float().cumsum(1).argmax(1)  # last True position (first max of cumsum)
        positions = torch.arange(self.input_ids.shape[1], device=self.input_ids.device).unsqueeze(0)
        return positions <= last.unsqueeze(1)

    def to(self, device) -> "Batch":
        return Batch(self.input_ids.to(device), self.attention_mask.to(device), self.labels.to(device))


def join(prompt: str, target: str) -> tuple[str, int]:
    """The joint text and the character index where the target (with its leading space) starts."""
    sep = "" if (not prompt or prompt[-1].isspace() or target[:1].isspace()) else " "
    return prompt + sep + target, len(prompt)


def encode_pair(tokenizer, prompt: str, target: str, max_tokens: int = DEFAULT_MAX_TOKENS,
                field_name: str = "prompt") -> tuple[list[int], list[int]]:
    """Token ids of prompt+target and labels (target ids at target positions, IGNORE elsewhere)."""
    text, boundary = join(prompt, target)
    enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=True)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    labels = [tok if end > boundary and end > start else IGNORE for tok, (start, end) in zip(ids, offsets)]
    if all(label == IGNORE for label in labels):
        raise ValueError(f"target of {field_name!r} produced no tokens; give a non-empty target")
    if labels[0] != IGNORE:
        raise ValueError(f"{field_name} is empty: the target would have no context to be predicted from")
    if len(ids) > max_tokens:
        raise ValueError(f"{field_name} with its target is {len(ids)} tokens; the limit is {max_tokens}. "
                         "Shorten the text")
    return ids, labels


def collate(rows: list[tuple[list[int], list[int]]], pad_id: int) -> Batch:
    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    for i, (ids, labs) in enumerate(rows):
        input_ids[i, :len(ids)] = torch.tensor(ids)
        mask[i, :len(ids)] = 1
        labels[i, :len(labs)] = torch.tensor(labs)
    return Batch(input_ids, mask, labels)


def encode_batch(tokenizer, prompts: list[str], targets: list[str], max_tokens: int = DEFAULT_MAX_TOKENS,
                 field_name: str = "prompt") -> Batch:
    rows = [encode_pair(tokenizer, p, t, max_tokens, field_name) for p, t in zip(prompts, targets, strict=True)]
    return collate(rows, tokenizer.pad_token_id)
