"""The task registry: each data set's kind, format, splits and enrichment, and `load_split`.

A data set's *name* (`recent`, `recent-synthetic`, ...) picks its files; its *kind* (counterfact, recent,
convsent, zsre) is `EditRecord.task`, the task the instructions describe. The real data sets are the
defaults: `counterfact` (KnowEdit WikiData-CounterFact), `recent` (KnowEdit WikiData-Recent) and
`convsent` (SERAC ConvSent), with frozen train / validation / test splits (`instructedit.data.splits`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..paths import ASSETS_DIR, data_file
from .enrich import EnrichContext, enrich_records
from .loaders import detect_file_format, load_records, parse_records, read_json_list
from .records import EditRecord, RecordError
from .splits import split_indices


@dataclass(frozen=True)
class Split:
    """Records [start, stop) of a file, from the shared data folder or the project's assets; with
    `definition` (a task of `instructedit.data.splits`), the records that split definition lists."""

    file: str
    shared: bool
    start: int = 0
    stop: int | None = None
    definition: str = ""

    def path(self) -> Path:
        return data_file(self.file) if self.shared else ASSETS_DIR / "data" / self.file

    def load(self, fmt: str, name: str) -> list[EditRecord]:
        """The split's records (invalid source records, e.g. an empty zsRE target, are skipped)."""
        if not self.definition:
            return load_records(self.path(), fmt, start=self.start, stop=self.stop, skip_invalid=True)
        source, indices = split_indices(self.definition, name)
        if source != self.file:
            raise RecordError(f"split {name!r} of {self.definition} is defined on {source}, not {self.file}")
        path = self.path()
        raw = read_json_list(path)
        return [rec for i in indices for rec in parse_records([raw[i]], fmt, str(path), start=i, skip_invalid=True)]


@dataclass(frozen=True)
class Dataset:
    """A registered data set: `kind` is the EditRecord task, `enrich` the split-level probe steps."""

    name: str
    kind: str
    format: str
    splits: dict[str, Split] = field(hash=False)
    description: str = ""
    enrich: tuple[str, ...] = ()

    @property
    def shared(self) -> bool:
        """Whether its files are in the shared data folder (else in the project's assets)."""
        return any(split.shared for split in self.splits.values())


def _frozen(task: str, train_file: str, test_file: str | None = None) -> dict[str, Split]:
    return {name: Split(test_file if name == "test" and test_file else train_file, True, definition=task)
            for name in ("train", "validation", "test")}


_DATASETS = (
    Dataset("counterfact", "counterfact", "knowedit-counterfact",
            _frozen("counterfact", "knowedit_counterfact_train.json"),
            "KnowEdit WikiData-CounterFact, split by subject", ("unrelated-known", "neighbours")),
    Dataset("recent", "recent", "knowedit-recent", _frozen("recent", "knowedit_recent_train.json"),
            "KnowEdit WikiData-Recent, split by subject", ("unrelated-known", "neighbours")),
    Dataset("convsent", "convsent", "convsent-blender",
            _frozen("convsent", "convsent_blender_val.json", "convsent_blender_test.json"),
            "SERAC ConvSent: blender_val by entity into train / validation, blender_test", ("convsent-locality",)),
    # zsRE is the held-out task: records 0-499 may train only the single-task zsRE editor,
    # every held-out number is reported on records 500-999.
    Dataset("zsre", "zsre", "zsre", {"train": Split("zsre_mend_train-1k.json", True, 0, 500),
                                     "test": Split("zsre_mend_train-1k.json", True, 500, None)},
            "MEND zsRE, the held-out task"),
    Dataset("counterfact-rome", "counterfact", "counterfact",
            {"train": Split("counterfact-train.json", True), "test": Split("counterfact-edit-1k.json", True)},
            "EasyEdit/MEND CounterFact (ROME variant)"),
    Dataset("recent-synthetic", "recent", "recent",
            {"train": Split("recent/train.json", False), "test": Split("recent/test.json", False)},
            "the project's synthetic KnowEdit-like Recent set (assets/data/recent)"),
    Dataset("convsent-synthetic", "convsent", "convsent",
            {"train": Split("convsent/train.json", False), "test": Split("convsent/test.json", False)},
            "the project's synthetic ConvSent set (assets/data/convsent)"),
)
DATASETS: dict[str, Dataset] = {ds.name: ds for ds in _DATASETS}

# the former names, kept importable: data set name -> {split: Split} and -> format
SPLITS: dict[str, dict[str, Split]] = {name: ds.splits for name, ds in DATASETS.items()}
FORMAT_OF: dict[str, str] = {name: ds.format for name, ds in DATASETS.items()}


def dataset(name: str) -> Dataset:
    if name not in DATASETS:
        raise ValueError(f"unknown task {name!r}; expected one of {', '.join(DATASETS)}")
    return DATASETS[name]


def dataset_names() -> tuple[str, ...]:
    return tuple(DATASETS)


def dataset_kind(name: str) -> str:
    """The task kind (EditRecord.task) of a data set: `recent-synthetic` -> `recent`."""
    return dataset(name).kind


def dataset_splits(name: str) -> tuple[str, ...]:
    return tuple(dataset(name).splits)


def load_split(task: str, split: str, path: str | Path | None = None, *, enrich: bool = True) -> list[EditRecord]:
    """A data set's records of one split, from `path` (a file in the data set's format) if given.

    With `enrich`, the data set's split-level locality probes are added (see `instructedit.data.enrich`).
    """
    ds = dataset(task)
    if split not in ds.splits:
        raise ValueError(f"unknown split {split!r} for task {task}; expected one of {', '.join(ds.splits)}")
    if path is None:
        records = ds.splits[split].load(ds.format, split)
        return enrich_records(records, ds.enrich, EnrichContext(split=split)) if enrich else records
    return _records_of_file(ds, split, path, enrich)


def _records_of_file(ds: Dataset, split: str, path: str | Path, enrich: bool) -> list[EditRecord]:
    """A user's file for a data set's split: any format of the data set's kind (detected); the data set's
    enrichment only when the file is in the data set's own format."""
    fmt = detect_file_format(path)
    records = load_records(path, fmt, skip_invalid=True)
    wrong = next((r for r in records if r.task != ds.kind), None)
    if wrong is not None:
        raise RecordError(f"holds {wrong.task} records ({fmt} format), but task {ds.name!r} needs {ds.kind} "
                          f"records; pass a {ds.kind} file", source=str(path))
    if enrich and fmt == ds.format:
        return enrich_records(records, ds.enrich, EnrichContext(split=split))
    return records
