"""Analysis of InstructEdit editing directions and results: projections, separation scores,
paper-style plotly figures (Fig. 2, Fig. 3, Table 3), the sequential-editing curves and their export.

Names load on first use (PEP 562): `from analysis import paper_numbers` for a table of numbers does not
import scikit-learn or plotly.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "DirectionSet": "directionset", "concat": "directionset",
    "BrowserNotFoundError": "export", "ensure_browser": "export", "export_figure": "export",
    "export_figures": "export", "find_browser": "export", "render_static": "export",
    "direction_panels": "figures", "direction_points": "figures", "fig_directions": "figures",
    "fig_seen_unseen": "figures", "fig_table3": "figures", "fig_task_scaling": "figures",
    "sequence_curves": "sequence_figure",
    "available_methods": "projection", "project": "projection", "project_groups": "projection",
    "knn_accuracy": "separation", "separation_by_editor": "separation", "separation_scores": "separation",
    "variance_ratio": "separation",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'analysis' has no attribute {name!r}")
    return getattr(importlib.import_module(f"analysis.{_EXPORTS[name]}"), name)
