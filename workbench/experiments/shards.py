"""`instructedit reproduce --shard I/N`: the suite split across N processes (or machines sharing `runs/`).

Each editor (and each baseline) belongs to one shard, which trains it and computes every evaluation and
sequence piece of it; so no shard waits for another's editor (an editor trained on from another goes with
it). Editors are dealt out longest first to the least loaded shard (their weight: a training run, plus one
per evaluation or sequence piece), the same on every process. Pieces are kept as files as usual; an
experiment's results file is written by whichever shard finds all its pieces present (the last to finish),
with exactly the content one process writes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from workbench.experiments.suite import EDITORS, EXPERIMENTS, SEQUENCES

TRAIN_WEIGHT = 4  # a training run costs about as much as this many evaluation pieces (measured: --quick)


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count` (1-based, as written on the command line: 1/2 and 2/2)."""

    index: int = 1
    count: int = 1
    owner: dict = field(init=False, repr=False, compare=False)  # editor -> shard, dealt out once

    def __post_init__(self):
        if not isinstance(self.count, int) or self.count < 1:
            raise ValueError(f"shard count must be an integer >= 1, got {self.count!r}")
        if not isinstance(self.index, int) or not 1 <= self.index <= self.count:
            raise ValueError(f"shard index must be an integer from 1 to {self.count}, got {self.index!r}")
        object.__setattr__(self, "owner", {} if self.whole else owners(self.count))

    @classmethod
    def parse(cls, text: str) -> "Shard":
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
        if not match:
            raise ValueError(f"{text!r} is not I/N: write e.g. 1/2 (this process's shard, 1-based, of N shards)")
        return cls(int(match.group(1)), int(match.group(2)))

    @property
    def whole(self) -> bool:
        return self.count == 1

    def owns(self, editor: str) -> bool:
        return self.whole or self.owner.get(editor, 1) == self.index


def _weights() -> dict[str, int]:
    """Every editor and baseline of the suite, with its work: training plus its pieces."""
    weights = {name: TRAIN_WEIGHT for name in EDITORS}
    for experiment in EXPERIMENTS.values():
        for editor in experiment.editors:
            weights[editor] = weights.get(editor, 0) + len(experiment.tasks) * len(experiment.instructions)
    for sequence in SEQUENCES.values():
        for entry in sequence.editors:
            base = entry.split("+", 1)[0]
            weights[base] = weights.get(base, 0) + len(sequence.tasks)
    return weights


def _root(name: str) -> str:
    """The editor whose shard `name` goes to: the one its training starts from (`SuiteEditor.start_from`), if any."""
    spec = EDITORS.get(name)
    return _root(spec.start_from) if spec is not None and spec.start_from else name


def group_weights() -> dict[str, int]:
    """The work of each group of editors that one shard takes whole: an editor with those trained on from it."""
    groups: dict[str, int] = {}
    for name, weight in _weights().items():
        groups[_root(name)] = groups.get(_root(name), 0) + weight
    return groups


def owners(count: int) -> dict[str, int]:
    """Editor -> its shard (1-based): heaviest group first onto the least loaded shard (ties: the lower index); an
    editor whose training starts from another goes with it, so no shard waits for another's training."""
    load = [0] * count
    shard_of = {}
    for name, weight in sorted(group_weights().items(), key=lambda item: (-item[1], item[0])):
        shard = min(range(count), key=lambda s: (load[s], s))
        shard_of[name] = shard + 1
        load[shard] += weight
    return {name: shard_of[_root(name)] for name in _weights()}
