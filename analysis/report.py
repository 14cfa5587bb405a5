"""`instructedit analyze`: collect directions for several editors, score task separation, draw and export."""
from __future__ import annotations

import json
import logging
from pathlib import Path

from analysis.directions import CollectOptions, collect_cached
from analysis.directionset import concat
from analysis.export import export_figure
from analysis.figures import direction_panels
from analysis.separation import separation_by_editor
from instructedit.data.tasks import load_split
from instructedit.editor.editor import Editor
from instructedit.io import atomic_write_json
from instructedit.models import loading
from instructedit.paths import cache_dir

log = logging.getLogger(__name__)


def _model_spec(editor_dir: Path) -> str:
    return json.loads((editor_dir / "editor.json").read_text(encoding="utf-8")).get("model") or "smollm2-135m"


def collect_all(editor_dirs: list[Path], tasks: list[str], options: CollectOptions, model_spec: str | None = None):
    """One DirectionSet holding every editor's vectors on the first `options.n` test records of each task."""
    model, tokenizer = loading.load_model(model_spec or _model_spec(editor_dirs[0]))
    records = [r for task in tasks for r in load_split(task, "test")[: options.n]]
    sets = []
    for editor_dir in editor_dirs:
        editor = Editor.load(editor_dir, model)
        sets.append(collect_cached(cache_dir() / "directions", editor_dir, model, tokenizer, editor, records,
                                   editor_dir.name, options))
    return concat(sets)


def separation_report(dirset, seed: int = 0) -> dict:
    """Per editor: separation of task labels for ũ and, as the no-editor control, the raw u."""
    report = {}
    for kind in sorted(set(dirset.meta["kind"])):
        table = separation_by_editor(dirset, kind=kind, seed=seed)
        report[kind] = table.to_dict(orient="records")
    report["note"] = ("each editor's points come from that one editor applied to several tasks; a panel that mixes "
                      "editors trained on different tasks separates trivially. u_raw is the control without editor.")
    return report


def run_analysis(editor_dirs: list[str], tasks: list[str], method: str, out: str, formats: list[str],
                 options: CollectOptions, model_spec: str | None = None, seed: int = 0) -> dict:
    dirs = [Path(d) for d in editor_dirs]
    dirset = collect_all(dirs, tasks, options, model_spec)
    out_dir = Path(out)
    report = separation_report(dirset, seed)
    atomic_write_json(out_dir / "separation.json", report)
    names = [d.name for d in dirs]
    written = []
    for kind, title in (("u_tilde", "Editing gradient directions ũ"), ("u_raw", "Control: raw layer input u")):
        fig = direction_panels(dirset, [[name] for name in names], method=method, seed=seed, kind=kind, title=title)
        written += export_figure(fig, out_dir, f"directions-{kind}-{method}", formats=formats)
    log.info("wrote %s and %d figure files to %s", "separation.json", len(written), out_dir)
    return report
