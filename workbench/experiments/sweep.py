"""`instructedit sweep`: a small logged sweep on validation splits carved from train (never the test splits).

Each variant is the main config plus overrides, trained for the same short budget; the table reports the
best checkpoint's validation Reliability / Generalization / Locality and the shipped (float16) size.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from instructedit.editor.editor import CONFIG_FILE, WEIGHTS_FILE, Editor
from instructedit.io import atomic_write_json, atomic_write_text
from instructedit.models import loading
from instructedit.paths import ASSETS_DIR, PROJECT_DIR
from instructedit.training.config import TrainConfig
from instructedit.training.state import STATE_FILE
from instructedit.training.trainer import Trainer

log = logging.getLogger(__name__)
BUDGET = ("steps=200", "eval_every=200")   # the same short budget for every variant
VARIANTS: dict[str, tuple[str, ...]] = {   # name -> overrides of configs/instructedit.yaml
    "rank-32": ("editor.rank=32",),
    "rank-128": (),
    "rank-512": ("editor.rank=512",),
}


def _trained(out: Path, steps: int) -> bool:
    state = out / "last" / STATE_FILE
    return state.is_file() and json.loads(state.read_text())["step"] >= steps and (out / "best" / CONFIG_FILE).is_file()


def run_variant(name: str, root: Path, model, tokenizer) -> dict:
    overrides = [*VARIANTS[name], *BUDGET, f"out_dir={root / name}"]
    config = TrainConfig.from_yaml(PROJECT_DIR / "configs" / "instructedit.yaml", overrides)
    config.name = f"sweep-{name}"
    out = Path(config.out_dir)
    if not _trained(out, config.steps):
        Trainer(config, model, tokenizer).train()
    half = root / "half" / name  # the size it would ship at
    Editor.load(out / "best", model).save(half, half=True)
    info = json.loads((out / "best" / CONFIG_FILE).read_text())
    return {"overrides": list(VARIANTS[name]), "budget": list(BUDGET), "step": info["step"],
            "validation": info["metrics"], "shipped_mb": round((half / WEIGHTS_FILE).stat().st_size / 2**20, 2)}


def markdown(rows: dict) -> str:
    lines = ["| variant | overrides | shipped MB | val Reliability | val Generalization | val Locality |",
             "|---|---|---|---|---|---|"]
    for name, row in rows.items():
        m = row["validation"]
        lines.append(f"| {name} | {' '.join(row['overrides']) or '(main config)'} | {row['shipped_mb']} | "
                     f"{100 * m['reliability']:.1f} | {100 * m['generalization']:.1f} | {100 * m['locality']:.1f} |")
    return "\n".join(lines) + "\n"


def sweep(names: list[str] | None = None, root: Path | None = None, out: Path | None = None) -> Path:
    """Train every variant (resumable), then write <out>/sweep.json and sweep.md."""
    root = root or PROJECT_DIR / "runs" / "sweep"
    out = out or ASSETS_DIR / "results"
    unknown = set(names or []) - set(VARIANTS)
    if unknown:
        raise ValueError(f"unknown sweep variant(s) {sorted(unknown)}; known: {', '.join(VARIANTS)}")
    model, tokenizer = loading.load_model("smollm2-135m")
    rows = {name: run_variant(name, root, model, tokenizer) for name in names or VARIANTS}
    atomic_write_json(out / "sweep.json", rows)
    atomic_write_text(out / "sweep.md", markdown(rows))
    log.info("wrote %s", out / "sweep.md")
    return out / "sweep.md"
