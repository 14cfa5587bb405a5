"""Sequential editing evaluation: records edited one at a time, each on the model edited so far.

`evaluate_sequence` draws the order of the records once (seeded) and edits them in turn with an
EditSequence. At each checkpoint T (after T edits) it re-scores every earlier edit under the cumulative
edit, with the teacher-forced token metrics of `metrics` (retention: reliability, generalization and
portability of each of the T records), and a fixed set of locality probes (token locality: the share of
answer tokens whose top-1 prediction is the base model's). With `generation=True` it adds, per earlier edit,
from the greedy continuation of its edit prompt under the cumulative edit (30 tokens, as the single-edit
metrics read it): generation reliability (the continuation starts with its target,
`answers.starts_with_answer`), degeneration (`degeneration.is_degenerate` against the base
model's continuation of the same prompt: a held edit that says "South Park South Park South Park" is counted)
and fluency vs base; and generation locality: each locality prompt's greedy continuation keeps the base
model's first N tokens (N = the answer's tokens + 3, as `generation_metrics` defines it). Base continuations
are generated once; generation is batched.

The cumulative edit is one B = 1 edit that applies to every row, so scoring runs the base path
(`probe_scores(..., edit=None)`) inside `cumulative.applied(model)` instead of expanding it per row with
`Edit.take`. The trunk below the editor's first block is the same under every edit: the locality probes'
trunk states and base predictions are computed once and reused at every checkpoint.

`instruction=DRAWN` gives each record its own seen instruction, drawn from the record's identity as training
draws it (`prompts.training_instruction`), as the edits of an app session vary; any other value is one
instruction for every record.
"""
from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass

import torch

from ..data.records import EditRecord, Probe
from ..editor.contract import EditorContract
from ..editor.forward import per_record_mean, trunk
from ..editor.sequence import EditSequence
from ..models import families
from ..models.families import BlockInput
from ..instructions import Instruction
from ..prompts import Example, build_example, training_instruction
from ..tokenize import IGNORE, Batch, collate, encode_pair
from .metrics import ProbeSet, gather_probes, length_buckets, probe_scores

log = logging.getLogger(__name__)

RETENTION_KINDS = ("reliability", "generalization", "portability")
DEFAULT_CHECKPOINTS = (1, 10, 100, 1000)
DRAWN = "drawn"  # the instruction setting: a seen instruction per record (module docstring)


@dataclass
class _ProbeBatch:
    """One length bucket of probes: its batch and trunk state (the same under every edit)."""

    rows: list[int]
    batch: Batch
    state: BlockInput


def _probe_batches(model, pairs: list, pad_id: int, start: int, max_rows: int) -> list[_ProbeBatch]:
    batches = []
    for bucket in length_buckets([len(pair[0]) for pair in pairs]):
        for i in range(0, len(bucket), max_rows):
            rows = bucket[i:i + max_rows]
            batch = collate([pairs[j] for j in rows], pad_id).to(families.device_of(model))
            batches.append(_ProbeBatch(rows, batch, trunk(model, batch.input_ids, start)))
    return batches


class LocalityProbes:
    """Fixed probes whose base top-1 predictions are kept; `unchanged(edit)` scores them under an edit."""

    def __init__(self, model, tokenizer, probes: list[Probe], start: int, max_rows: int = 32):
        pairs, self.probes = [], []
        for i, probe in enumerate(probes):
            try:
                pairs.append(encode_pair(tokenizer, probe.prompt, probe.answer, field_name=f"locality[{i}]"))
                self.probes.append(probe)
            except ValueError as err:
                log.warning("skipped locality probe %d: %s", i, err)
        self.model, self.tokenizer, self.start = model, tokenizer, start
        self._base_ids: list[list[int]] | None = None  # base greedy continuations, made on first use
        self.batches = _probe_batches(model, pairs, tokenizer.pad_token_id, start, max_rows) if pairs else []
        self.base_top1 = [probe_scores(model, b.batch, None, [], b.state, start)["top1"] for b in self.batches]

    def __len__(self) -> int:
        return len(self.probes)

    @torch.no_grad()
    def unchanged(self, edit) -> list[float]:
        """Per probe: the share of its answer tokens whose top-1 prediction `edit` leaves unchanged."""
        out = [0.0] * len(self.probes)
        with edit.applied(self.model):
            for b, before in zip(self.batches, self.base_top1):
                after = probe_scores(self.model, b.batch, None, [], b.state, self.start)
                shares = per_record_mean(before == after["top1"], after["rows"], len(b.rows))
                for j, share in zip(b.rows, shares.tolist()):
                    out[j] = share
        return out


    @torch.no_grad()
    def generation_unchanged(self, edit) -> list[float]:
        """Per probe: 1.0 where its greedy continuation under `edit` keeps the base model's first N tokens."""
        from ..editor.batched_generation import generate_ids_batch
        from .generation_metrics import locality_budget

        prompts = [p.prompt for p in self.probes]
        budgets = [locality_budget(self.tokenizer, p.prompt, p.answer) for p in self.probes]
        if self._base_ids is None:
            self._base_ids = generate_ids_batch(self.model, self.tokenizer, prompts, None, None, budgets)
        with edit.applied(self.model):
            after = generate_ids_batch(self.model, self.tokenizer, prompts, None, None, budgets)
        return [float(a == b) for a, b in zip(self._base_ids, after)]


def default_locality_probes(records: list[EditRecord]) -> list[Probe]:
    """Every locality probe of the records, each (prompt, answer) once."""
    seen = dict.fromkeys((p.prompt, p.answer) for r in records for p in r.locality)
    return [Probe(prompt, answer) for prompt, answer in seen]


def _retention_probes(examples: list[Example]) -> ProbeSet:
    probes = gather_probes(examples)
    keep = [j for j, kind in enumerate(probes.kind) if kind in RETENTION_KINDS]
    return ProbeSet([probes.pairs[j] for j in keep], [probes.owner[j] for j in keep],
                    [probes.kind[j] for j in keep])


@torch.no_grad()
def retention_scores(model, examples: list[Example], edit, pad_id: int, start: int,
                     batch_size: int = 8) -> list[dict]:
    """Per example: reliability / generalization / portability token accuracy under the (B = 1) edit."""
    out = []
    for i in range(0, len(examples), batch_size):
        chunk = examples[i:i + batch_size]
        probes = _retention_probes(chunk)
        accuracy = [0.0] * len(probes.pairs)
        with edit.applied(model):
            for b in _probe_batches(model, probes.pairs, pad_id, start, max_rows=4 * batch_size):
                scores = probe_scores(model, b.batch, None, [], b.state, start)
                for j, value in zip(b.rows, scores["accuracy"].tolist()):
                    accuracy[j] = value
        for r, example in enumerate(chunk):
            values = {kind: [a for a, o, k in zip(accuracy, probes.owner, probes.kind) if o == r and k == kind]
                      for kind in RETENTION_KINDS}
            out.append({"record_id": example.record.record_id, "task": example.record.task,
                        **{kind: (sum(v) / len(v) if v else None) for kind, v in values.items()}})
    return out


def _edit_prompt(tokenizer, example: Example) -> tuple[str, int]:
    """The (instruction-wrapped) edit prompt as text, and the target's token count."""
    ids, labels = example.edit
    prompt = tokenizer.decode([t for t, lab in zip(ids, labels) if lab == IGNORE], skip_special_tokens=True)
    return prompt, sum(lab != IGNORE for lab in labels)


class EditPromptContinuations:
    """Greedy continuations of the edited records' (wrapped) edit prompts, read for retention by generation and
    degeneration: the base model's made once per record (the degeneration rule compares with it), the edited
    model's at each checkpoint. Each budget is the single-edit metrics' (`generation_metrics`): the target's
    tokens + DEFAULT_EXTRA_TOKENS, at least DEFAULT_TEXT_TOKENS; greedy decoding extends a shorter budget's
    continuation, so success reads the same first tokens as a target-length continuation would."""

    def __init__(self, model, tokenizer):
        self.model, self.tokenizer = model, tokenizer
        self._base: list[str] = []  # by edit position: the base continuation of the position's edit prompt

    def _requests(self, examples: list[Example]) -> tuple[list[str], list[int]]:
        from .generation_metrics import DEFAULT_EXTRA_TOKENS, DEFAULT_TEXT_TOKENS

        prompts, targets = zip(*(_edit_prompt(self.tokenizer, ex) for ex in examples))
        return list(prompts), [max(DEFAULT_TEXT_TOKENS, n + DEFAULT_EXTRA_TOKENS) for n in targets]

    def _generate(self, examples: list[Example]) -> list[str]:
        from ..editor.batched_generation import generate_batch  # imported here: only these metrics generate

        prompts, budgets = self._requests(examples)
        return generate_batch(self.model, self.tokenizer, prompts, None, None, budgets)

    @torch.no_grad()
    def scores(self, examples: list[Example], edit) -> list[dict]:
        """Per example (the edits so far, in edit order): `gen_reliability` (the continuation under `edit` starts
        with the target), `degenerate` and `fluency_ratio` against the base continuation, and both texts."""
        from .answers import starts_with_answer
        from .degeneration import fluency_ratio, is_degenerate

        if len(self._base) < len(examples):
            self._base += self._generate(examples[len(self._base):])
        with edit.applied(self.model):
            texts = self._generate(examples)
        out = []
        for example, post, pre in zip(examples, texts, self._base):
            aliases = (example.record.target,)
            out.append({"gen_reliability": float(starts_with_answer(post, aliases)),
                        "degenerate": int(is_degenerate(post, aliases, pre)),
                        "fluency_ratio": fluency_ratio(post, pre), "post_text": post, "pre_text": pre})
        return out


def _mean(values) -> float | None:
    values = [float(v) for v in values if v is not None]
    return sum(values) / len(values) if values else None


def degeneration_share(rows: list[dict]) -> float | None:
    """A checkpoint's share of degenerate edits (rescoring stored rows uses it too)."""
    return _mean(r["degenerate"] for r in rows)


def _checkpoints(checkpoints, n: int) -> list[int]:
    marks = sorted({int(t) for t in checkpoints})
    if not marks or marks[0] < 1:
        raise ValueError(f"checkpoints must be integers >= 1, got {list(checkpoints)}")
    kept = [t for t in marks if t <= n]
    if len(kept) < len(marks):
        log.warning("checkpoints %s exceed the %d records and are skipped", [t for t in marks if t > n], n)
    return kept


def _examples(editor: EditorContract, records: list[EditRecord], tokenizer, instruction, catalog,
              seed: int = 0) -> list[Example]:
    def chosen(record: EditRecord) -> Instruction:
        return editor.instruction_for(training_instruction(record, seed) if instruction == DRAWN else instruction)

    examples = []
    for record in records:
        try:
            examples.append(build_example(record, tokenizer, chosen(record), catalog))
        except ValueError as err:
            log.warning("skipped record %s/%s: %s", record.task, record.record_id, err)
    return examples


def _checkpoint(model, tokenizer, sequence: EditSequence, edited: list[Example], locality: LocalityProbes,
                batch_size: int, continuations: EditPromptContinuations | None) -> dict:
    """Scores of every edit so far and of the locality probes under the cumulative edit."""
    started = time.perf_counter()
    edit = sequence.cumulative()
    rows = retention_scores(model, edited, edit, tokenizer.pad_token_id, sequence.editor.first_block, batch_size)
    for position, row in enumerate(rows):
        row["position"] = position
    generation = continuations is not None
    if generation:
        for row, scores in zip(rows, continuations.scores(edited, edit)):
            row.update(scores)
    unchanged = locality.unchanged(edit) if len(locality) else []
    summary = {kind: _mean(r[kind] for r in rows) for kind in RETENTION_KINDS}
    summary["locality"] = _mean(unchanged)
    kept = locality.generation_unchanged(edit) if generation and len(locality) else []
    if generation:
        summary["gen_reliability"] = _mean(r["gen_reliability"] for r in rows)
        summary["gen_locality"] = _mean(kept)
        summary["degenerate"] = degeneration_share(rows)
        summary["fluency_ratio"] = _mean(r["fluency_ratio"] for r in rows)
    summary["edit_rows"] = {name: int(f.u.shape[1]) for name, f in edit.factors.items()}
    return {"T": len(edited), "summary": summary, "records": rows, "locality": unchanged,
            **({"gen_locality": kept} if generation else {}),
            "score_seconds": round(time.perf_counter() - started, 3)}


def evaluate_sequence(model, tokenizer, editor: EditorContract, records: list[EditRecord],
                      checkpoints=DEFAULT_CHECKPOINTS, instruction="seen", locality_probes: list[Probe] | None = None,
                      seed: int = 0, batch_size: int = 8, *, catalog: dict | None = None, generation: bool = False,
                      lifelong_stats: bool = False, guard=None) -> dict:
    """Edit `records` one at a time in a seeded order, each edit computed on the model edited so far, and
    at each checkpoint T re-score the first T edits and the fixed locality probes (module docstring).

    `locality_probes`: default every locality probe of `records`. `guard`: a `guards.SequenceGuard` applied
    to every edit (`EditSequence`). `batch_size`: records per scoring pass.
    Checkpoints beyond the number of (valid) records are skipped. The result is JSON-serialisable:
    per checkpoint a `summary` of means, per-record `records` (in edit order) and per-probe `locality`.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    examples = _examples(editor, records, tokenizer, instruction, catalog, seed)
    marks = _checkpoints(checkpoints, len(examples))
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    probes = default_locality_probes(records) if locality_probes is None else list(locality_probes)
    locality = LocalityProbes(model, tokenizer, probes, editor.first_block, max_rows=4 * batch_size)
    sequence = EditSequence(model, editor, tokenizer.pad_token_id, lifelong_stats=lifelong_stats,
                            undo_depth=0, guard=guard)  # nothing is undone: keep only the dense sums
    continuations = EditPromptContinuations(model, tokenizer) if generation else None
    results, edited, edit_seconds = [], [], 0.0
    for step, i in enumerate(order[:marks[-1] if marks else 0], start=1):
        started = time.perf_counter()
        sequence.edit_next([examples[i]])
        edit_seconds += time.perf_counter() - started
        edited.append(examples[i])
        if step in marks:
            result = _checkpoint(model, tokenizer, sequence, edited, locality, batch_size, continuations)
            result["edit_seconds"] = round(edit_seconds, 3)
            results.append(result)
            log.info("sequence T=%d: %s", step, {k: v for k, v in result["summary"].items() if k != "edit_rows"})
    setting = "none" if editor.instruction_for(instruction).is_none else str(instruction)  # "drawn" included
    return {"editor": type(editor).__name__, "instruction": setting, "seed": seed, "n_records": len(examples),
            "order": [examples[i].record.record_id for i in order[:marks[-1] if marks else 0]],
            "locality_probes": len(locality), "lifelong_stats": lifelong_stats, "generation": generation,
            "guard": None if guard is None else guard.describe(),
            "checkpoints": results}
