"""Frozen splits of the shared real data sets, defined by small JSON files under assets/data/splits.

KnowEdit WikiData-Recent and WikiData-CounterFact: the train files are split by subject (no subject in two
splits; case and spacing ignored) into train / validation / test, about 70 / 10 / 20 %. ConvSent:
`convsent_blender_val.json` is split by entity into train / validation (85 / 15 %) and
`convsent_blender_test.json` is the test split. Groups are sorted, shuffled with
`random.Random(f"{SPLIT_SEED}:{task}:{file}[:{stratum}]")` and dealt in turn to each split until it holds its
share. KnowEdit records are stratified by whether they have Subject_Aliasing prompts (their only
paraphrases: 36 of 570 Recent records), so each split gets its share of them.

    python -m instructedit.data.splits           # rebuild the definitions and SHA256SUMS from the shared data
    python -m instructedit.data.splits --check   # verify them (exit status 1 on any problem)

Each definition records the SHA-256 of its source files; `--check` also compares those with the shared data.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..paths import ASSETS_DIR, data_dir
from .loaders import read_json_list

log = logging.getLogger(__name__)

SPLITS_DIR = ASSETS_DIR / "data" / "splits"
SUMS_FILE = "SHA256SUMS"
SPLIT_SEED = 2024


@dataclass(frozen=True)
class Portion:
    """The records of one shared file, grouped by `key`, dealt into splits: (name, share) in order, the last
    split taking what is left; with `stratum` (a name in STRATA), each stratum is dealt on its own."""

    file: str
    key: str
    shares: tuple[tuple[str, float], ...]
    stratum: str = ""


def _has_aliases(raw: object) -> bool:
    """Whether a KnowEdit record has Subject_Aliasing prompts (its only paraphrases)."""
    portability = raw.get("portability") if isinstance(raw, dict) else None
    return bool(isinstance(portability, dict) and portability.get("Subject_Aliasing"))


# so that the few Recent records with paraphrases are spread over the splits like the rest
STRATA: dict[str, Callable[[object], bool]] = {"has-aliases": _has_aliases}
KNOWEDIT_SHARES = (("test", 0.2), ("validation", 0.1), ("train", 0))
SPLIT_RULES: dict[str, tuple[Portion, ...]] = {
    "recent": (Portion("knowedit_recent_train.json", "subject", KNOWEDIT_SHARES, "has-aliases"),),
    "counterfact": (Portion("knowedit_counterfact_train.json", "subject", KNOWEDIT_SHARES, "has-aliases"),),
    "convsent": (Portion("convsent_blender_val.json", "ent", (("validation", 0.15), ("train", 0))),
                 Portion("convsent_blender_test.json", "ent", (("test", 0),))),
}
SPLIT_ORDER = ("train", "validation", "test")


def group_key(value: object) -> str:
    """Records whose key (subject, entity) differs only in case or spacing are one group."""
    return " ".join(str(value).casefold().split())


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _strata(raw_records: list, portion: Portion) -> dict[str, dict[str, list[int]]]:
    """stratum -> group key -> record indices (a group is in the stratum of any of its records)."""
    groups: dict[str, list[int]] = {}
    for index, raw in enumerate(raw_records):
        key = raw.get(portion.key) if isinstance(raw, dict) else None
        groups.setdefault(group_key(key) if key is not None else f"#record-{index}", []).append(index)
    test = STRATA.get(portion.stratum)
    strata: dict[str, dict[str, list[int]]] = {}
    for key, indices in groups.items():
        stratum = str(any(test(raw_records[i]) for i in indices)) if test else ""
        strata.setdefault(stratum, {})[key] = indices
    return strata


def deal(raw_records: list, portion: Portion, task: str) -> dict[str, list[int]]:
    """Record indices per split: whole groups, in a seeded order, until each split holds its share."""
    out: dict[str, list[int]] = {name: [] for name, _ in portion.shares}
    for stratum, groups in sorted(_strata(raw_records, portion).items()):
        order = sorted(groups)
        random.Random(f"{SPLIT_SEED}:{task}:{portion.file}{':' + stratum if stratum else ''}").shuffle(order)
        total, position = sum(map(len, groups.values())), 0
        for number, (name, share) in enumerate(portion.shares):
            wanted = total if number == len(portion.shares) - 1 else round(share * total)
            taken = 0
            while position < len(order) and taken < wanted:
                out[name].extend(groups[order[position]])
                taken += len(groups[order[position]])
                position += 1
    return {name: sorted(indices) for name, indices in out.items()}


def _describe(portion: Portion) -> str:
    rest = "the rest" if len(portion.shares) > 1 else "all"
    shares = ", ".join(f"{n} {s:.0%}" if s else f"{n} {rest}" for n, s in portion.shares)
    by = f"by {portion.key}" + (f", stratified by {portion.stratum}" if portion.stratum else "")
    return f"{portion.file} {by}: {shares}"


def build_definition(task: str, base: Path) -> dict:
    """A task's split definition from the shared data folder `base`."""
    sources, splits = {}, {}
    for portion in SPLIT_RULES[task]:
        path = base / portion.file
        sources[portion.file] = sha256_file(path)
        for name, indices in deal(read_json_list(path), portion, task).items():
            splits[name] = {"source": portion.file, "count": len(indices), "indices": indices}
    return {
        "task": task, "seed": SPLIT_SEED, "rule": "; ".join(_describe(p) for p in SPLIT_RULES[task]),
        "sources": sources, "splits": {name: splits[name] for name in SPLIT_ORDER if name in splits},
    }


def render(definition: dict) -> str:
    return json.dumps(definition, indent=1, ensure_ascii=False) + "\n"


def definition_path(task: str) -> Path:
    return SPLITS_DIR / f"{task}.json"


def read_definition(task: str) -> dict:
    """A task's committed split definition (a missing file says how to rebuild it)."""
    path = definition_path(task)
    if not path.is_file():
        raise FileNotFoundError(f"split definition {path} is missing; run python -m instructedit.data.splits")
    return json.loads(path.read_text(encoding="utf-8"))


def split_indices(task: str, split: str) -> tuple[str, list[int]]:
    """(source file, record indices) of one split of a task with a frozen split definition."""
    splits = read_definition(task)["splits"]
    if split not in splits:
        raise ValueError(f"split {split!r} is not in {definition_path(task)}; it has {', '.join(splits)}")
    return splits[split]["source"], list(splits[split]["indices"])


def write_all(base: Path, out_dir: Path = SPLITS_DIR) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    for task in SPLIT_RULES:
        text = render(build_definition(task, base))
        (out_dir / f"{task}.json").write_text(text, encoding="utf-8")
        lines.append(f"{hashlib.sha256(text.encode('utf-8')).hexdigest()}  {task}.json")
        log.info("wrote %s", out_dir / f"{task}.json")
    (out_dir / SUMS_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_sums(out_dir: Path = SPLITS_DIR) -> dict[str, str]:
    lines = (out_dir / SUMS_FILE).read_text(encoding="utf-8").splitlines()
    return {name: digest for digest, name in (line.split() for line in lines if line.strip())}


def _problems_of(task: str, base: Path | None, out_dir: Path, sums: dict[str, str]) -> list[str]:
    path = out_dir / f"{task}.json"
    if not path.is_file():
        return [f"{path} is missing"]
    problems = [] if sha256_file(path) == sums.get(path.name) else [f"{path} does not match {SUMS_FILE}"]
    definition = json.loads(path.read_text(encoding="utf-8"))
    seen: dict[tuple[str, int], str] = {}
    for name, split in definition["splits"].items():
        for index in split["indices"]:
            if seen.setdefault((split["source"], index), name) != name:
                problems.append(f"{path}: record {index} of {split['source']} is in {seen[(split['source'], index)]} "
                                f"and {name}")
    if base is not None:
        for file, digest in definition["sources"].items():
            if sha256_file(base / file) != digest:
                problems.append(f"{path}: the shared {file} has changed (SHA-256 differs)")
        if not problems and render(build_definition(task, base)) != path.read_text(encoding="utf-8"):
            problems.append(f"{path} differs from a fresh build")
    return problems


def check_all(base: Path | None, out_dir: Path = SPLITS_DIR) -> list[str]:
    """Problems with the committed definitions; without shared data only the files themselves are checked."""
    sums = read_sums(out_dir) if (out_dir / SUMS_FILE).is_file() else {}
    return [problem for task in SPLIT_RULES for problem in _problems_of(task, base, out_dir, sums)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m instructedit.data.splits", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="verify the committed split definitions")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    base = data_dir()
    base = base if base is not None and all((base / p.file).is_file() for ps in SPLIT_RULES.values()
                                            for p in ps) else None
    if not args.check:
        if base is None:
            log.error("the shared data folder is absent: set INSTRUCTEDIT_DATA_DIR")
            return 1
        write_all(base)
        return 0
    if base is None:
        log.warning("shared data absent: checking the definitions against %s only", SUMS_FILE)
    problems = check_all(base)
    for problem in problems:
        log.error("%s", problem)
    log.info("split definitions: %s", "FAILED" if problems else "ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
