"""`instructedit edit` from a shell: many edits in one model load against one edit per call.

Each measurement is a fresh `instructedit edit` process (imports, model load, editor load, the edits, the
report), timed from spawn to exit: one typed edit (`--prompt/--target`), the first record of a data file
(`--file F --limit 1`) and its first N records (`--file F --limit N`, independent edits, the table view).
The three are interleaved `--runs` times so that they see the same machine load. Goal (the command-line
issue): N = 20 records in less than 2x the time of one edit. Prints one JSON object.

Run: python bench/bench_edit_file.py [--records 20] [--runs 2] [--file ../shared/data/counterfact-edit-1k.json]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from instructedit.paths import ASSETS_DIR, data_dir

log = logging.getLogger("bench_edit_file")
GOAL_RATIO = 2.0


def command(editor: Path, *args: str) -> list[str]:
    cli = shutil.which("instructedit") or ""
    launcher = [cli] if cli else [sys.executable, "-m", "workbench.cli"]
    return [*launcher, "edit", "--editor", str(editor), *args]


def seconds(argv: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=os.environ | {"TQDM_DISABLE": "1"})
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited with {done.returncode}: {done.stderr[-1500:]}")
    return time.perf_counter() - start


def run(args) -> dict:
    editor = Path(args.editor)
    if not (editor / "editor.json").is_file():
        raise SystemExit(f"--editor {editor}: not an editor folder (no editor.json)")
    shared = data_dir()
    data = Path(args.file) if args.file else shared / "counterfact-edit-1k.json" if shared else None
    if data is None or not data.is_file():
        raise SystemExit(f"--file {data}: no such data file; give one with --file")
    cases = {"typed": command(editor, "--prompt", "The Eiffel Tower is located in", "--target", "Rome"),
             "one_record": command(editor, "--file", str(data), "--limit", "1"),
             "many_records": command(editor, "--file", str(data), "--limit", str(args.records))}
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.runs):
        for name, argv in cases.items():
            times[name].append(seconds(argv))
            log.info("%s: %.2f s", name, times[name][-1])
    median = {name: statistics.median(values) for name, values in times.items()}
    return {"bench": "edit_file", "records": args.records, "runs": args.runs, "file": data.name,
            "cpus": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2),
            "seconds": {name: [round(v, 2) for v in values] for name, values in times.items()},
            "median_s": {name: round(v, 2) for name, v in median.items()},
            "ratio_many_to_typed": round(median["many_records"] / median["typed"], 3),
            "ratio_many_to_one_record": round(median["many_records"] / median["one_record"], 3),
            "per_extra_record_s": round((median["many_records"] - median["one_record"]) / (args.records - 1), 3),
            "goal_ratio": GOAL_RATIO}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=20)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--file", help="data file (default: the shared data folder's counterfact-edit-1k.json)")
    parser.add_argument("--editor", default=str(ASSETS_DIR / "editors" / "instructedit"))
    args = parser.parse_args()
    if args.records < 2 or args.runs < 1:
        raise SystemExit("--records must be >= 2 and --runs >= 1")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    print(json.dumps(run(args)))


if __name__ == "__main__":
    main()
