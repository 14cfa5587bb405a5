"""Gradient-directions tab: scatter of precomputed editing directions (assets/directions) with separation scores.

Sets are DirectionSets (`<name>.safetensors` + `<name>.json`). Nothing is recomputed from a model here:
collecting directions needs the test data and minutes of CPU, so the app reads what `instructedit analyze`
(or the asset build) wrote. Projections are cached per (file version, selection).
"""
from __future__ import annotations

import functools
import json
import logging
from pathlib import Path

import gradio as gr
import pandas as pd

from analysis.directionset import DirectionSet, sidecar_path
from analysis.export import html_text
from analysis.figures import direction_panels
from analysis.projection import available_methods
from analysis.separation import separation_by_editor
from instructedit.evaluation.schema import EDITOR_LABELS, task_label
from workbench.ui.errors import ui_errors
from workbench.ui.exports import write_download
from workbench.ui.validate import InputError

log = logging.getLogger(__name__)

METHOD_LABELS = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}
LAYOUTS = {  # value -> (label, editors -> panels)
    "separate": ("One panel per editor", lambda editors: [[e] for e in editors]),
    "together": ("All editors in one panel", lambda editors: [list(editors)]),
}
SCORE_COLUMNS = ["editor", "n", "n_labels", "silhouette", "silhouette_2d", "knn_accuracy", "knn_chance",
                 "variance_ratio", "note"]
NO_RECOMPUTE = ("Directions are read from precomputed files; the app does not recompute them (that needs the test "
                "data and minutes of CPU). Recompute offline with `instructedit analyze --editors ... --out DIR`.")


def method_choices() -> list[tuple[str, str]]:
    return [(METHOD_LABELS.get(m, m), m) for m in available_methods()]


def list_sets(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.safetensors") if sidecar_path(p).is_file())


def _sidecar_rows(path: Path) -> pd.DataFrame:
    data = json.loads(sidecar_path(path).read_text(encoding="utf-8"))
    return pd.DataFrame.from_records(data["records"], columns=data["columns"])


@functools.lru_cache(maxsize=16)
def _load(path: str, mtime: float) -> DirectionSet:
    return DirectionSet.load(path)


@functools.lru_cache(maxsize=32)
def _figure_and_scores(path: str, mtime: float, editors: tuple, tasks: tuple, method: str, layout: str, kind: str):
    subset = _load(path, mtime).subset(editor=list(editors), task=list(tasks), kind=kind)
    if len(subset) == 0:
        raise InputError("Editors", f"no {kind} vectors for editors {', '.join(editors)} and tasks {', '.join(tasks)}")
    scores = separation_by_editor(subset, kind=kind).reindex(columns=SCORE_COLUMNS)
    labels = {e: EDITOR_LABELS.get(e, e) for e in editors}
    shown = DirectionSet(subset.vectors, subset.meta.assign(task=subset.meta["task"].map(task_label),
                                                           editor=subset.meta["editor"].map(labels)))
    title = f"Editing directions ({kind}), {METHOD_LABELS.get(method, method)}"
    panels = LAYOUTS[layout][1]([labels[e] for e in editors])
    titles = [" vs ".join(panel) if len(panel) < 3 else "" for panel in panels]
    fig = direction_panels(shown, panels, method=method, kind=kind, title=title, panel_titles=titles)
    return fig, scores.round(3)


class DirectionsTab:
    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def status(self) -> str:
        sets = list_sets(self.folder)
        if not sets:
            return (f"**No direction sets yet** in `{self.folder}` (each is `<name>.safetensors` + `<name>.json`). "
                    + NO_RECOMPUTE)
        return f"{len(sets)} set(s): {', '.join(sets)}. " + NO_RECOMPUTE

    def _path(self, name) -> Path:
        sets = list_sets(self.folder)
        if name not in sets:
            raise InputError("Direction set", f"unknown set {str(name)[:80]!r}; available: {', '.join(sets) or 'none'}")
        return self.folder / f"{name}.safetensors"

    def refresh(self):
        """Page load: the status line and the list of sets (files may appear while the app runs)."""
        sets = list_sets(self.folder)
        return self.status(), gr.Dropdown(choices=sets, value=sets[0] if sets else None)

    def choices(self, name) -> tuple[list[str], list[str], list[str]]:
        """(editors, tasks, kinds) of a set, read from its sidecar only; empty lists for no set."""
        if not name:
            return [], [], []
        rows = _sidecar_rows(self._path(name))
        return tuple(sorted(rows[c].astype(str).unique()) for c in ("editor", "task", "kind"))

    @ui_errors
    def options(self, name):
        """A set was chosen: its editors, tasks and kinds, all selected (u_tilde by default)."""
        editors, tasks, kinds = self.choices(name)
        kind = "u_tilde" if "u_tilde" in kinds or not kinds else kinds[0]
        return (gr.Dropdown(choices=editors, value=editors, multiselect=True, allow_custom_value=True),
                gr.Dropdown(choices=tasks, value=tasks, multiselect=True, allow_custom_value=True),
                gr.Dropdown(choices=kinds or ["u_tilde"], value=kind, allow_custom_value=True))

    def _compute(self, name, editors, tasks, method, layout, kind):
        path = self._path(name)
        if not editors:
            raise InputError("Editors", "choose at least one editor")
        if not tasks:
            raise InputError("Tasks", "choose at least one task")
        if method not in available_methods():
            raise InputError("Projection", f"{str(method)[:40]!r} is not one of {', '.join(available_methods())}")
        if layout not in LAYOUTS:
            raise InputError("Layout", f"{str(layout)[:40]!r} is not one of {', '.join(LAYOUTS)}")
        return _figure_and_scores(str(path), path.stat().st_mtime, tuple(editors), tuple(tasks), method, layout,
                                  str(kind))

    @ui_errors
    def draw(self, name, editors, tasks, method, layout, kind):
        """(figure, separation scores, HTML download path)."""
        fig, scores = self._compute(name, editors, tasks, method, layout, kind)
        html = write_download(f"directions-{kind}-{method}.html", html_text(fig))
        return fig, scores, str(html)

    @ui_errors
    def png(self, name, editors, tasks, method, layout, kind):
        """A PNG of the same figure, EXPORT_WIDTH (1200) px wide, panels wrapped as on screen (kaleido +
        Chromium; a few seconds)."""
        from analysis.export import BrowserNotFoundError, render_static

        fig, _ = self._compute(name, editors, tasks, method, layout, kind)
        try:
            [[data]] = render_static([fig], ["png"], scale=1.0)
        except BrowserNotFoundError as err:
            raise InputError("PNG export", str(err)) from err
        return str(write_download(f"directions-{kind}-{method}.png", data))
