"""The one factory for tiny test editors (random tiny models: the edit is visible only when the
identity-initialised networks are perturbed, hence `jitter` and `alpha`)."""
from __future__ import annotations

import torch

from instructedit.editor.editor import Editor, EditorConfig
from instructedit.models import fingerprint
from instructedit.tokenize import encode_batch

WARM_UP = (("The capital of France is",), ("Rome",))


def tiny_editor(model, tokenizer, *, mode: str = "instruct", rank: int = 8, seed: int = 0, jitter: float = 0.0,
                alpha: float | None = None, warm_up=WARM_UP) -> Editor:
    """A rank-`rank` editor of the model's last block with running statistics from `warm_up` (prompts,
    targets), networks perturbed by `jitter`, every α set to `alpha` when given, and the model's fingerprint."""
    torch.manual_seed(seed)
    editor = Editor(model, EditorConfig(edit_last_k=1, rank=rank, mode=mode))
    editor.warm_up(model, [encode_batch(tokenizer, list(warm_up[0]), list(warm_up[1]))])
    with torch.no_grad():
        if jitter:
            for p in editor.networks.parameters():
                p.add_(torch.randn_like(p) * jitter)
        if alpha is not None:
            for value in editor.alphas.values():
                value.fill_(alpha)
    editor.model_fingerprint = fingerprint(model)
    return editor.eval()
