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
from ..editor.contract import EditorContract, make_edits
from ..editor.forward import full_logits, per_record_mean, predicted_logits, top_hidden, trunk
from ..models import families
from ..models.families import BlockInput
from ..prompts import Example
from ..tokenize import collate
from .schema import locality_group

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
def probe_scores(model, batch, edit: Edit | None, owner: list[int], state: BlockInput | None = None,
                 start: int = 0) -> dict[str, torch.Tensor]:
    """Per probe row: token accuracy, mean log-prob, summed log-prob, and top-1 ids at answer positions.

    `state`: the hidden states entering block `start` (below every edited block), shared by the pre- and
    post-edit passes; without it the whole model runs.
    """
    with edit.take(owner).applied(model) if edit is not None else nullcontext():
        if state is None:
            logits, targets, rows = full_logits(model, batch)
        else:
            logits, targets, rows = predicted_logits(model, top_hidden(model, state, start), batch)
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


def length_buckets(lengths: list[int], ratio: float = 0.6) -> list[list[int]]:
    """Row indices grouped so that little is padded: longest first; a row shorter than `ratio` x its
    group's longest row starts a new group (short locality prompts do not pad to instruction length)."""
    buckets: list[list[int]] = []
    for j in sorted(range(len(lengths)), key=lambda j: -lengths[j]):
        if not buckets or lengths[j] < ratio * lengths[buckets[-1][0]]:
            buckets.append([])
        buckets[-1].append(j)
    return buckets


PER_ROW = ("accuracy", "mean_logprob", "sum_logprob")


@torch.no_grad()
def pre_post_scores(model, probes: ProbeSet, pad_id: int, edit: Edit, start: int = 0) -> tuple[dict, dict, torch.Tensor]:
    """Per probe row, before and after `edit`: PER_ROW scores, and the share of answer tokens whose top-1
    prediction the edit leaves unchanged. Batched per length bucket; the trunk below block `start` (below
    every edited block) runs once per bucket for both passes."""
    n = len(probes.pairs)
    pre, post = ({k: torch.zeros(n) for k in PER_ROW} for _ in range(2))
    unchanged = torch.zeros(n)
    for rows in length_buckets([len(pair[0]) for pair in probes.pairs]):
        batch = collate([probes.pairs[j] for j in rows], pad_id).to(families.device_of(model))
        owner = [probes.owner[j] for j in rows]
        state = trunk(model, batch.input_ids, start)
        before = probe_scores(model, batch, None, owner, state, start)
        after = probe_scores(model, batch, edit, owner, state, start)
        index = torch.tensor(rows)
        for key in PER_ROW:
            pre[key][index], post[key][index] = before[key].cpu(), after[key].cpu()
        unchanged[index] = per_record_mean(before["top1"] == after["top1"], before["rows"], len(rows)).cpu()
    return pre, post, unchanged


@dataclass
class ProbeTable:
    """Every probe of a batch of examples scored before and after its edit (rows as in `probes`)."""

    probes: ProbeSet
    pre: dict
    post: dict
    unchanged: torch.Tensor

    def record(self, i: int, example: Example) -> dict:
        return record_scores(example, i, self.probes, self.pre, self.post, self.unchanged)


def probe_table(model, editor: EditorContract, examples: list[Example], pad_id: int, edit: Edit) -> ProbeTable:
    """Score every probe of `examples` before and after `edit` (row i of `edit` edits example i)."""
    probes = gather_probes(examples)
    # the blocks below the editor's first block are the same before and after the edit
    pre, post, unchanged = pre_post_scores(model, probes, pad_id, edit, editor.first_block)
    return ProbeTable(probes, pre, post, unchanged)


def score_examples(model, editor: EditorContract, examples: list[Example], pad_id: int,
                   edit: Edit | None = None) -> list[dict]:
    """Edit each example (independently, from the base model) and score it: one dict per record.

    `edit` is the batched edit of `examples` when the caller already made it (see `make_edits`).
    """
    edit = edit if edit is not None else make_edits(model, editor, examples, pad_id)
    table = probe_table(model, editor, examples, pad_id, edit)
    return [table.record(i, ex) for i, ex in enumerate(examples)]


def _grouped_locality(ex: Example, rows: list[int], unchanged: torch.Tensor) -> dict:
    """Token locality per locality group (unrelated, neighbour, same subject) where the probes say."""
    groups = [locality_group(probe.kind) for probe in ex.record.locality]
    out = {}
    for group in dict.fromkeys(g for g in groups if g):
        chosen = [row for row, g in zip(rows, groups) if g == group]
        out[f"locality_{group}"] = float(unchanged[chosen].mean())
    return out


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
    out |= _grouped_locality(ex, rows["locality"], unchanged)
    if rows["contrast"]:
        target_lp = post["mean_logprob"][rel]
        out["sentiment_success"] = bool((target_lp > post["mean_logprob"][rows["contrast"]]).all())
        out["pre_sentiment_success"] = bool((pre["mean_logprob"][rel] > pre["mean_logprob"][rows["contrast"]]).all())
    return out
