"""The layers as the folders show them: core (`instructedit/`) <- `analysis/` <- upper layer (`workbench/`,
`app.py`, `bench/`). Parsed from the source (every import, module-level or inside a function), so a new
import that breaks the layering fails here; plus a run-time check that importing the core for one edit loads
none of the UI / plotting packages (they are optional extras)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"instructedit": ROOT / "instructedit", "analysis": ROOT / "analysis", "workbench": ROOT / "workbench",
           "app": ROOT / "app.py", "bench": ROOT / "bench"}
UI_AND_PLOTTING = {"gradio", "gradio_client", "plotly", "umap", "kaleido", "sklearn", "pandas", "spaces"}
# what each layer may import from the project (besides itself)
ALLOWED = {"instructedit": set(), "analysis": {"instructedit"}, "workbench": {"instructedit", "analysis"},
           "app": {"instructedit", "analysis", "workbench"}, "bench": {"instructedit", "analysis", "workbench"}}


def _files(folder: Path) -> list[Path]:
    return [folder] if folder.suffix == ".py" else sorted(folder.rglob("*.py"))


def imported_top_levels(path: Path) -> set[str]:
    """Top-level names of every absolute import in a file (relative imports stay inside the package)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def folder_imports() -> dict[str, set[str]]:
    return {name: set().union(*(imported_top_levels(p) for p in _files(folder))) for name, folder in FOLDERS.items()}


def test_every_layer_imports_only_the_layers_below():
    graph = folder_imports()
    for layer, imports in graph.items():
        project = (imports & set(FOLDERS)) - {layer}
        assert project <= ALLOWED[layer], f"{layer} imports {sorted(project - ALLOWED[layer])}"


def test_core_and_analysis_import_no_ui():
    graph = folder_imports()
    assert not graph["instructedit"] & UI_AND_PLOTTING, sorted(graph["instructedit"] & UI_AND_PLOTTING)
    assert not graph["analysis"] & {"gradio", "gradio_client", "spaces"}


def test_the_folder_graph_has_no_cycle():
    graph = {layer: (imports & set(FOLDERS)) - {layer} for layer, imports in folder_imports().items()}
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in graph[node]:
            assert state.get(nxt) != "open", "import cycle: " + " -> ".join(path + [nxt])
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for layer in graph:
        if layer not in state:
            visit(layer, [layer])


def test_the_checker_sees_function_level_imports(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f():\n    import gradio as gr\n    from analysis.figures import x\n    from .y import z\n")
    assert imported_top_levels(source) == {"gradio", "analysis"}


@pytest.mark.parametrize("modules", ["instructedit", "instructedit.editor, instructedit.evaluation",
                                     "instructedit.api, instructedit.training.trainer, instructedit.baselines"])
def test_importing_the_core_loads_no_ui_or_plotting_package(modules):
    code = (f"import sys\nimport {modules}\n"
            f"print(sorted(m for m in {sorted(UI_AND_PLOTTING | {'analysis', 'workbench'})!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
