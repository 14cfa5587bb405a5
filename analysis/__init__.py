"""Analysis of InstructEdit editing directions and results: projections, separation scores,
paper-style plotly figures (Fig. 2, Fig. 3, Table 3) and their export."""

from analysis.directionset import DirectionSet, concat
from analysis.export import (
    BrowserNotFoundError,
    ensure_browser,
    export_figure,
    export_figures,
    find_browser,
    render_static,
)
from analysis.figures import (
    direction_panels,
    direction_points,
    fig_directions,
    fig_seen_unseen,
    fig_table3,
    fig_task_scaling,
)
from analysis.projection import available_methods, project, project_groups
from analysis.separation import knn_accuracy, separation_by_editor, separation_scores, variance_ratio

__all__ = [
    "BrowserNotFoundError",
    "DirectionSet",
    "available_methods",
    "concat",
    "direction_panels",
    "direction_points",
    "ensure_browser",
    "export_figure",
    "export_figures",
    "fig_directions",
    "fig_seen_unseen",
    "fig_table3",
    "fig_task_scaling",
    "find_browser",
    "knn_accuracy",
    "project",
    "project_groups",
    "render_static",
    "separation_by_editor",
    "separation_scores",
    "variance_ratio",
]
