"""Token-level, teacher-forced editing metrics on batches of examples (one edit per record).

Reliability: accuracy of the target tokens on the (instruction-wrapped) edit prompt after the edit.
Generalization: the same on the paraphrases. Locality: share of locality-answer tokens whose top-1
prediction the edit leaves unchanged. Portability: accuracy on related prompts. ConvSent adds
sentiment success: after the edit the requested-sentiment response is likelier (per token) than
every contrast response.
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import torch

from ..editor.edit import Edit
from ..editor.editor import Editor
from ..editor.forward import full_logits, per_record_mean
from ..prompts import Example
from ..tokenize import collate

PROBE_KINDS = ("reliability", "generalization", "locality", "portability", "contrast")


@dataclass
class ProbeSet:
    """All probes of a batch of examples as one token batch, with the owning record and kind per row."""

    pairs: list
    owner: list[int]
    kind: list[str]


def gather_probes(examples: list[Example]) -> ProbeSet:
    probes = ProbeSet([], [], [])
    for i, ex in enumerate(examples):
        groups = {"reliability": [ex.edit], "generalization": ex.rephrases, "locality": ex.locality,
                  "portability": ex.portability, "contrast": ex.contrast}
        for kind, pairs in groups.items():
            for pair in pairs:
                probes.pairs.append(pair)
                probes.owner.append(i)
                probes.kind.append(kind)
    return probes


@torch.no_grad()
def probe_scores(model, batch, edit: Edit | None, owner: list[int]) -> dict[str, torch.Tensor]:
    """Per probe row: token accuracy, mean log-prob, summed log-prob, and top-1 ids at answer positions."""
    with edit.take(owner).applied(model) if edit is not None else nullcontext():
        logits, targets, rows = full_logits(model, batch)
    logprobs = torch.log_softmax(logits.float(), -1)
    token_lp = logprobs.gather(1, targets.unsqueeze(1)).squeeze(1)
    top1 = logits.argmax(-1)
    n = len(batch)
    return {
        "accuracy": per_record_mean(top1 == targets, rows, n),
        "mean_logprob": per_record_mean(token_lp, rows, n),
        "sum_logprob": torch.zeros(n, device=token_lp.device).index_add(0, rows, token_lp),
        "top1": top1, "rows": rows,
    }


def edit_examples(model, editor: Editor, examples: list[Example], pad_id: int) -> Edit:
    """One independent edit per example (row i of the result edits example i), from the base model."""
    with torch.no_grad():
        return editor.edit(model, collate([ex.edit for ex in examples], pad_id)).detach()


def score_examples(model, editor: Editor, examples: list[Example], pad_id: int, edit: Edit | None = None) -> list[dict]:
    """Edit each example (independently, from the base model) and score it: one dict per record.

    `edit` is the batched edit of `examples` when the caller already made it (see `edit_examples`).
    """
    edit = edit if edit is not None else edit_examples(model, editor, examples, pad_id)
    probes = gather_probes(examples)
    batch = collate(probes.pairs, pad_id)
    pre = probe_scores(model, batch, None, probes.owner)
    post = probe_scores(model, batch, edit, probes.owner)
    unchanged = per_record_mean(pre["top1"] == post["top1"], pre["rows"], len(batch))
    return [record_scores(ex, i, probes, pre, post, unchanged) for i, ex in enumerate(examples)]


def record_scores(ex: Example, i: int, probes: ProbeSet, pre: dict, post: dict, unchanged: torch.Tensor) -> dict:
    rows = {kind: [j for j, (o, k) in enumerate(zip(probes.owner, probes.kind)) if o == i and k == kind]
            for kind in PROBE_KINDS}

    def mean(values: torch.Tensor, kind: str) -> float | None:
        return float(values[rows[kind]].mean()) if rows[kind] else None

    rel = rows["reliability"][0]
    out = {
        "record_id": ex.record.record_id, "task": ex.record.task,
        "reliability": float(post["accuracy"][rel]), "pre_reliability": float(pre["accuracy"][rel]),
        "p_target": float(post["sum_logprob"][rel].exp()), "pre_p_target": float(pre["sum_logprob"][rel].exp()),
        "success": bool(post["accuracy"][rel] == 1.0),
        "generalization": mean(post["accuracy"], "generalization"),
        "locality": mean(unchanged, "locality"),
        "portability": mean(post["accuracy"], "portability"),
    }
    if rows["contrast"]:
        target_lp = post["mean_logprob"][rel]
        out["sentiment_success"] = bool((target_lp > post["mean_logprob"][rows["contrast"]]).all())
        out["pre_sentiment_success"] = bool((pre["mean_logprob"][rel] > pre["mean_logprob"][rows["contrast"]]).all())
    return out
