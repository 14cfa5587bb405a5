"""Synthetic DirectionSets for tests, benchmarks and demos (no model needed).

Each (editor, task) group is a Gaussian blob around a task centre; an editor's
``spread`` is the distance of its task centres from the editor's centre (the
within-group noise has norm about 1), so an editor with a large
spread separates tasks (like InstructEdit in the paper's Fig. 2a) and one with a small
spread mixes them (like multi-task MEND).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.directionset import DirectionSet

DEFAULT_SPREADS: dict[str, float] = {
    "InstructEdit": 3.0,
    "MEND (multi-task)": 0.05,
    "MEND (single-task)": 3.0,
    "InstructEdit (Recent)": 1.0,
    "InstructEdit (Recent & CF)": 2.0,
}
DEFAULT_TASKS: tuple[str, ...] = ("Recent", "CounterFact", "zsRE", "ConvSent")


def synthetic_directionset(
    editors: Mapping[str, float] | None = None,
    tasks: Sequence[str] = DEFAULT_TASKS,
    per_group: int = 100,
    dim: int = 1536,
    seed: int = 0,
    kind: str = "u_tilde",
) -> DirectionSet:
    """A DirectionSet with ``per_group`` vectors per (editor, task); ``editors`` maps name -> spread."""
    rng = np.random.default_rng(seed)
    spreads = dict(DEFAULT_SPREADS if editors is None else editors)
    task_dirs = rng.normal(size=(len(tasks), dim)) / np.sqrt(dim)
    vectors = []
    rows = []
    for e, (editor, spread) in enumerate(spreads.items()):
        offset = rng.normal(size=dim) / np.sqrt(dim) * 3.0
        for t, task in enumerate(tasks):
            centre = offset + spread * task_dirs[t]
            noise = rng.normal(size=(per_group, dim)) / np.sqrt(dim)
            vectors.append(centre + noise)
            rows += [{"editor": editor, "task": task, "record_id": f"{task}-{i}",
                      "instruction": f"Task: {task}\nDescription: synthetic description {i % 9}", "kind": kind}
                     for i in range(per_group)]
    return DirectionSet(np.concatenate(vectors).astype(np.float32), pd.DataFrame(rows))
