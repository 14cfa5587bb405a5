"""Sequential editing cost on the default model (CPU): edits per second, the cost of the T-th edit, and of
one forward under the cumulative edit, at T = 1, 10, 100 (and 1000 with --long).

Edit k is computed on the model edited by edits 1..k-1 (EditSequence, default folding). The forward is a
fixed batch of edit prompts (--forward-batch, default 1) through the whole model and through the edited
top blocks only (the trunk below them is the same under any edit): base, folded cumulative edit, and the
same edits unfolded (every edit's rows concatenated: what the cost would be without folding). Synthetic CounterFact-style records
under the seen instructions. Prints one JSON object.
`--resolve LAMBDA` (with `--resolve-max-norm C`, `--step-scales ...`) re-solves every edit against 300 known facts'
keys and the earlier edits' keys, as `instructedit sequence --resolve` does.
`--out FILE` also writes the JSON there (atomically) at every checkpoint as it is reached, with "complete": false
until the last one, so a long run that is stopped keeps what it measured.
Run: python bench/bench_sequence.py [--long] [--out FILE] [--editor assets/editors/instructedit]
     [--resolve 10 --resolve-max-norm 3]
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from contextlib import nullcontext
from pathlib import Path

import torch

from instructedit.data.records import EditRecord
from instructedit.editor.contract import editor_example
from instructedit.editor.edit import Edit, EditFactor
from instructedit.editor.editor import Editor
from instructedit.editor.forward import full_logits, predicted_logits, top_hidden, trunk
from instructedit.editor.sequence import EditSequence
from instructedit.io import atomic_write_json
from instructedit.models import load_model
from instructedit.paths import ASSETS_DIR
from instructedit.tokenize import collate
from timing import median_seconds
from workbench.experiments.sequences import make_guard

SUBJECTS = ("the Eiffel Tower", "Danielle Darrieux", "Tadej Pogacar", "the Colosseum", "Hamlet", "Mount Fuji",
            "the Louvre", "Big Ben", "the Danube", "Lake Como", "the Alhambra")
TARGETS = ("Rome", "Berlin", "London", "Tokyo", "Madrid", "Vienna", "Paris", "Lisbon", "Oslo", "Athens")


def records(n: int) -> list[EditRecord]:
    return [EditRecord(task="counterfact", prompt=f"In fact {i}, {SUBJECTS[i % len(SUBJECTS)]} is located in",
                       target=TARGETS[(i * 7) % len(TARGETS)], record_id=str(i),
                       rephrases=(f"{SUBJECTS[i % len(SUBJECTS)]} (fact {i}) can be found in",))
            for i in range(n)]



def unfolded(sequence: EditSequence) -> Edit:
    """The live edits' rows concatenated per weight (what `cumulative` would be without folding)."""
    names = list(dict.fromkeys(n for e in sequence.entries for n in e.edit.names))
    return Edit({n: EditFactor(torch.cat([e.edit.factors[n].u for e in sequence.entries if n in e.edit.factors], 1),
                               torch.cat([e.edit.factors[n].d for e in sequence.entries if n in e.edit.factors], 1),
                               torch.ones(())) for n in names})


@torch.no_grad()
def forward_ms(model, batch, state, start: int, edit: Edit | None, runs: int) -> dict:
    def whole():
        full_logits(model, batch)

    def top():
        predicted_logits(model, top_hidden(model, state, start), batch)

    with edit.applied(model) if edit is not None else nullcontext():
        return {"full_ms": round(median_seconds(whole, runs) * 1000, 2),
                "top_blocks_ms": round(median_seconds(top, runs) * 1000, 2)}


def checkpoint(model, sequence: EditSequence, batch, state, start: int, edit_times: list[float], runs: int) -> dict:
    cumulative = sequence.cumulative()
    recent = edit_times[-5:]
    row = {"T": len(sequence), "edit_ms": round(edit_times[-1] * 1000, 1),
           "edit_ms_median_last5": round(statistics.median(recent) * 1000, 1),
           "edit_rows": max(f.u.shape[1] for f in cumulative.factors.values()),
           "folded_edits": sequence.folded_count(sequence.editor.weight_names[0]),
           "sequence_mb": round(sequence.nbytes() / 2**20, 1),
           "forward_cumulative": forward_ms(model, batch, state, start, cumulative, runs)}
    plain = unfolded(sequence)
    row["unfolded_rows"] = max(f.u.shape[1] for f in plain.factors.values())
    row["forward_unfolded"] = forward_ms(model, batch, state, start, plain, runs)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--long", action="store_true", help="also T = 1000 (long: about 1000 edits)")
    parser.add_argument("--editor", default=str(ASSETS_DIR / "editors" / "instructedit"))
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--runs", type=int, default=3, help="timed forwards per measurement")
    parser.add_argument("--forward-batch", type=int, default=1, help="edit prompts in the timed forward")
    parser.add_argument("--resolve", type=float, metavar="LAMBDA",
                        help="re-solve every edit (instructedit/editor/resolve.py)")
    parser.add_argument("--resolve-max-norm", type=float, help="cap each re-solved edit before the step search")
    parser.add_argument("--step-scales", help="the editor's step search scales, comma-separated (default: its own)")
    parser.add_argument("--out", help="also write the JSON to this file at every checkpoint (a stopped run keeps them)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    marks = (1, 10, 100, 1000) if args.long else (1, 10, 100)
    model, tokenizer = load_model(args.model)
    editor = Editor.load(args.editor, model)
    if args.step_scales:
        editor = editor.with_settings(step_scales=tuple(float(s) for s in args.step_scales.split(",")))
    options = {"resolve": args.resolve, "resolve_max_norm": args.resolve_max_norm}
    options = {k: v for k, v in options.items() if v is not None}
    guard = make_guard(options, model, tokenizer, editor, set) if options else None
    examples = [editor_example(editor, r, tokenizer, "seen") for r in records(marks[-1])]
    batch = collate([ex.edit for ex in examples[:args.forward_batch]], tokenizer.pad_token_id)
    state = trunk(model, batch.input_ids, editor.first_block)
    base = forward_ms(model, batch, state, editor.first_block, None, args.runs)
    sequence = EditSequence(model, editor, tokenizer.pad_token_id, guard=guard)
    edit_times, rows = [], []
    started = time.perf_counter()

    def report() -> dict:
        return {"bench": "sequential_edits", "model": args.model, "editor": args.editor,
                "threads": torch.get_num_threads(), "step_scales": list(editor.config.step_scales),
                "guard": None if guard is None else guard.describe(), "edits": len(sequence),
                "edits_per_second": round(len(edit_times) / sum(edit_times), 3),
                "wall_seconds": round(time.perf_counter() - started, 1), "forward_batch": list(batch.input_ids.shape),
                "forward_base": base, "checkpoints": rows, "complete": len(sequence) == marks[-1]}

    for example in examples:
        begin = time.perf_counter()
        sequence.edit_next([example])
        edit_times.append(time.perf_counter() - begin)
        if len(sequence) in marks:
            rows.append(checkpoint(model, sequence, batch, state, editor.first_block, edit_times, args.runs))
            rows[-1]["edit_ms_mean_so_far"] = round(1000 * sum(edit_times) / len(edit_times), 1)
            if args.out:
                atomic_write_json(Path(args.out), report())
    print(json.dumps(report()))


if __name__ == "__main__":
    main()
