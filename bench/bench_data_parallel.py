"""Training throughput with 1 and 2 data-parallel processes (edits per second of the step loop).

Each run is `instructedit train` on the default model with the same config and global batch (one torch
thread per process; 2 processes via torchrun, gloo), timed from the trainer's own log (`elapsed_s` of the
last logged step: the loop only, not the model load or the trunk cache). On a 2-core machine the ideal
is 2x; anything else running on the box lowers it, so say the load when quoting it. Needs the shared data.
Prints one JSON object. Run: python bench/bench_data_parallel.py [--steps 30 --edits 8]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from instructedit.paths import PROJECT_DIR

CONFIG = PROJECT_DIR / "configs" / "instructedit.yaml"


def run(processes: int, steps: int, edits: int, out: Path) -> float:
    """Edits per second of one training run's step loop."""
    overrides = [f"steps={steps}", f"edits_per_step={edits}", "c_cont=0", "log_every=1", f"eval_every={steps + 1}",
                 f"save_every={steps + 1}", "val_records=2", f"out_dir={out}"]
    cli = ["-m", "workbench.cli", "train", "--config", str(CONFIG)] + [a for o in overrides for a in ("--set", o)]
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
    env = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run((launch if processes > 1 else [sys.executable]) + cli, env=env, capture_output=True,
                          text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    timed = [r for r in rows if "elapsed_s" in r]
    first, last = timed[0], timed[-1]  # from the end of step 1 (warm) to the last step
    return (last["step"] - first["step"]) * edits / (last["elapsed_s"] - first["elapsed_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--edits", type=int, default=8, help="global edits per step (even: 2 processes share it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rates = {n: run(n, args.steps, args.edits, Path(tmp) / f"p{n}") for n in (1, 2)}
    print(json.dumps({"benchmark": "data_parallel_training", "model": "smollm2-135m", "steps": args.steps,
                      "global_edits_per_step": args.edits, "edits_per_s": {str(n): round(r, 3) for n, r in rates.items()},
                      "speedup_2_vs_1": round(rates[2] / rates[1], 3), "load_average": os.getloadavg()}, indent=2))


if __name__ == "__main__":
    main()
