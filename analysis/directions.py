"""Collect editing-gradient directions per edit: ũ (editor-transformed layer input), δ̃, and the raw u.

Our reading of the paper's ∇̃u_ℓ: the editor-transformed input ũ of one edited weight, by default the
MLP up-projection (GPT-2: c_fc) of the last edited block, pooled (mean) over the token rows that carry
gradient and L2-normalised. Every choice is an option. The raw u (no editor) is the control.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from analysis.directionset import DirectionSet, concat
from analysis.options import POOLINGS, CollectOptions
from instructedit.data.records import EditRecord
from instructedit.editor.editor import Editor
from instructedit.models import families
from instructedit.prompts import build_example
from instructedit.tokenize import collate

log = logging.getLogger(__name__)
def default_weight(model, editor: Editor) -> str:
    last = max(families.block_index(n) for n in editor.weight_names)
    fam = families.family_of(model)
    name = f"{fam.blocks}.{last}.{fam.up_module}.weight"
    if name not in editor.weight_names:
        raise ValueError(f"{name} is not edited by this editor; pass a weight from {editor.weight_names}")
    return name


def _pool(x: torch.Tensor, rows: torch.Tensor, options: CollectOptions) -> np.ndarray:
    pooled = POOLINGS[options.pooling](x.float(), rows.unsqueeze(-1).float())
    if options.normalise:
        pooled = torch.nn.functional.normalize(pooled, dim=-1)
    return pooled.detach().numpy()


def collect(model, tokenizer, editor: Editor, records: list[EditRecord], editor_name: str,
            options: CollectOptions = CollectOptions(), progress: bool = True) -> DirectionSet:
    """u_tilde, delta_tilde and u_raw vectors for each record (edits from the base weights)."""
    weight = options.weight or default_weight(model, editor)
    if weight not in editor.weight_names:
        raise ValueError(f"weight {weight!r} is not edited by {editor_name}; choose from {editor.weight_names}")
    instruction = editor.instruction_for(options.instruction)
    examples = [build_example(r, tokenizer, instruction) for r in records]
    vectors = {kind: [] for kind in options.kinds}
    for i in tqdm(range(0, len(examples), options.batch_size), desc=f"directions {editor_name}", disable=not progress):
        batch = collate([ex.edit for ex in examples[i:i + options.batch_size]], tokenizer.pad_token_id)
        inputs, grads, _ = editor.capture_grads(model, batch)
        with torch.no_grad():
            factor = editor.transform(inputs[weight], grads[weight], batch.edit_rows, weight)
        source = {"u_tilde": factor.u, "delta_tilde": factor.d, "u_raw": inputs[weight]}
        for kind in options.kinds:
            vectors[kind].append(_pool(source[kind], batch.edit_rows, options))
    label = "none" if instruction.is_none else options.instruction
    base = pd.DataFrame({"editor": editor_name, "task": [r.task for r in records],
                         "record_id": [r.record_id for r in records], "instruction": label})
    sets = []
    for kind, parts in vectors.items():
        sets.append(DirectionSet(np.concatenate(parts), base.assign(kind=kind, weight=weight)))
    return concat(sets)


def cache_key(editor_dir: str | Path, records: list[EditRecord], options: CollectOptions) -> str:
    digest = hashlib.sha256()
    digest.update(Path(editor_dir, "editor.safetensors").read_bytes())
    digest.update(json.dumps([(r.task, r.record_id, r.prompt) for r in records]).encode())
    digest.update(json.dumps(asdict(options), sort_keys=True).encode())
    return digest.hexdigest()[:16]


def collect_cached(cache_dir: str | Path, editor_dir: str | Path, model, tokenizer, editor: Editor,
                   records: list[EditRecord], editor_name: str, options: CollectOptions = CollectOptions()) -> DirectionSet:
    """`collect`, memoised on disk by (editor weights, records, options): redrawing never recollects."""
    path = Path(cache_dir) / f"{editor_name}-{cache_key(editor_dir, records, options)}.safetensors"
    if path.is_file():
        return DirectionSet.load(path)
    dirset = collect(model, tokenizer, editor, records, editor_name, options)
    dirset.save(path, dtype="float32")
    return dirset
