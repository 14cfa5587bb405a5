"""The task registry: where each task's train and test records come from, and the frozen splits."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..paths import ASSETS_DIR, data_file
from .loaders import load_records
from .records import EditRecord


@dataclass(frozen=True)
class Split:
    """Records [start, stop) of a file, from the shared data folder or the project's assets."""

    file: str
    shared: bool
    start: int = 0
    stop: int | None = None

    def path(self) -> Path:
        return data_file(self.file) if self.shared else ASSETS_DIR / "data" / self.file


# zsRE is the held-out task: records 0-499 may train only the single-task zsRE editor,
# every held-out number is reported on records 500-999.
SPLITS: dict[str, dict[str, Split]] = {
    "counterfact": {"train": Split("counterfact-train.json", True), "test": Split("counterfact-edit-1k.json", True)},
    "zsre": {"train": Split("zsre_mend_train-1k.json", True, 0, 500),
             "test": Split("zsre_mend_train-1k.json", True, 500, None)},
    "recent": {"train": Split("recent/train.json", False), "test": Split("recent/test.json", False)},
    "convsent": {"train": Split("convsent/train.json", False), "test": Split("convsent/test.json", False)},
}
FORMAT_OF = {"counterfact": "counterfact", "zsre": "zsre", "recent": "recent", "convsent": "convsent"}


def load_split(task: str, split: str, path: str | Path | None = None) -> list[EditRecord]:
    """A task's train or test records (invalid source records, e.g. an empty zsRE target, are skipped)."""
    if task not in SPLITS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(SPLITS)}")
    if split not in SPLITS[task]:
        raise ValueError(f"unknown split {split!r} for task {task}; expected one of {', '.join(SPLITS[task])}")
    if path is not None:
        return load_records(path, FORMAT_OF[task], skip_invalid=True)
    spec = SPLITS[task][split]
    return load_records(spec.path(), FORMAT_OF[task], start=spec.start, stop=spec.stop, skip_invalid=True)
