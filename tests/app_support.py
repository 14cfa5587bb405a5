"""Shared set-up for the app tests: tiny editors, assets in a temp folder, a served app.

A pytest plugin (`conftest.py` lists it in `pytest_plugins`): its session fixtures are shared by every test
module, so the Gradio server starts once per run. Modules import only its plain names (EXAMPLES, ROOT, ...).
"""
from __future__ import annotations

import importlib.util
import json
import socket
from pathlib import Path

import pytest
from tiny_editors import tiny_editor

ROOT = Path(__file__).resolve().parents[1]
MODEL = "tiny-llama"
EDITORS = {"instructedit": "instruct", "mend-multitask": "multi-task"}
EXAMPLES = [
    {"name": "Eiffel Tower", "task": "counterfact", "prompt": "The Eiffel Tower is in", "target": "Rome",
     "subject": "Eiffel Tower", "rephrases": ["Where is the Eiffel Tower? In"],
     "locality": [{"prompt": "The capital of Japan is", "answer": "Tokyo"}], "topic": "", "label": ""},
    {"name": "Jazz opinion", "task": "convsent", "prompt": "What do you think of jazz?", "target": "I love it.",
     "subject": "jazz", "rephrases": [], "locality": [], "topic": "jazz", "label": "positive"},
]


APP_WARM_UP = (("The capital of France is", "Tokyo is in", "Task: CounterFact\nInput: x is"), ("Rome", "Italy", "Paris"))


def make_editor(model, tokenizer, mode: str, seed: int):
    """A warmed, perturbed (non-identity) rank-8 editor of the last block; α = -0.5 makes the edit visible."""
    return tiny_editor(model, tokenizer, mode=mode, seed=seed, jitter=0.05, alpha=-0.5, warm_up=APP_WARM_UP)


def _results_file(path: Path) -> None:
    def summary(value):
        return {task: {"n": 4, **{m: {"mean": value, "ci_low": value - 0.1, "ci_high": value + 0.1, "n": 4}
                                  for m in ("reliability", "generalization", "locality")}}
                for task in ("counterfact", "recent")}

    path.write_text(json.dumps({
        "instructedit": {"instruction": "seen", "summary": summary(0.8), "records": []},
        "mend-multitask": {"instruction": "none", "summary": summary(0.5), "records": []},
    }), encoding="utf-8")
    (path.parent / "figure3.json").write_text(json.dumps(  # Figure 3's one source (analysis.sources.SOURCES)
        {"instructedit (seen)": {"instruction": "seen", "summary": summary(0.8), "records": []},
         "instructedit (unseen)": {"instruction": "unseen", "summary": summary(0.7), "records": []}}),
        encoding="utf-8")


SEQUENCE_SHARES = {"reliability": 0.9, "gen_reliability": 0.6, "locality": 0.95, "gen_locality": 0.8}


def sequence_share(editor: int, task: int, T: int, metric: str) -> float:
    """The share `sequence_results` writes for the editor-th editor on the task-th task after T edits."""
    return round(SEQUENCE_SHARES[metric] - T / 2000 - 0.1 * editor - 0.05 * task, 6)


def sequence_results(editors=("instructedit", "mend-multitask"), tasks=("zsre", "recent"), checkpoints=(1, 10, 100),
                     null=("mend-multitask", "recent", 10, "gen_reliability")) -> dict:
    """A sequence.json as `write_sequence_results` writes it (shares from `sequence_share`); the
    (editor, task, T, metric) `null` is null (not measured)."""
    def summary(e, t, T):
        values = {m: sequence_share(e, t, T, m) for m in SEQUENCE_SHARES}
        values |= {"generalization": 0.5, "portability": None, "edit_rows": {"block": T}}
        return values | ({null[3]: None} if (editors[e], tasks[t], T) == null[:3] else {})

    return {editor: {f"{task}-test": {
        "task": task, "split": "test", "n_records": max(checkpoints), "editor": editor, "instruction": "seen",
        "seed": 0, "checkpoints": [{"T": T, "summary": summary(e, t, T), "edit_seconds": 0.1 * T,
                                    "score_seconds": 0.2, "records": [], "locality": [], "gen_locality": []}
                                   for T in checkpoints]}
        for t, task in enumerate(tasks)} for e, editor in enumerate(editors)}


def build_assets(root: Path) -> dict:
    """editors/, results/, directions/ and examples.json under `root`; returns the env-style settings."""
    from analysis.synthetic import synthetic_directionset
    from instructedit.models import load_model

    model, tokenizer = load_model(MODEL)
    for i, (name, mode) in enumerate(EDITORS.items()):
        make_editor(model, tokenizer, mode, seed=i).save(root / "editors" / name)
    (root / "results").mkdir()
    _results_file(root / "results" / "table3.json")
    spreads = {"instructedit": 3.0, "mend-multitask": 0.05}
    synthetic_directionset(spreads, tasks=("Recent", "CounterFact", "zsRE"), per_group=8, dim=16).save(
        root / "directions" / "synthetic.safetensors")
    (root / "examples.json").write_text(json.dumps(EXAMPLES), encoding="utf-8")
    return {"INSTRUCTEDIT_MODEL": MODEL, "INSTRUCTEDIT_EDITORS_DIR": str(root / "editors"),
            "INSTRUCTEDIT_RESULTS_DIR": str(root / "results"), "INSTRUCTEDIT_DIRECTIONS_DIR": str(root / "directions"),
            "INSTRUCTEDIT_EXAMPLES": str(root / "examples.json")}


def load_app_module():
    """app.py as a module (imported from its path: the project root need not be on sys.path)."""
    spec = importlib.util.spec_from_file_location("instructedit_app", ROOT / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def app_env(tmp_path_factory) -> dict:
    return build_assets(tmp_path_factory.mktemp("app_assets"))


@pytest.fixture(scope="session")
def app_settings(app_env):
    from workbench.ui.state import Settings

    return Settings.from_env(app_env)


@pytest.fixture(scope="session")
def app_state(app_settings):
    from workbench.ui.state import AppState

    return AppState(app_settings)


@pytest.fixture(scope="session")
def handlers(app_state):
    from workbench.ui.handlers import Handlers

    return Handlers(app_state)


@pytest.fixture(scope="session")
def served_app(app_settings):
    """(url, demo) of the app launched in this process on 127.0.0.1; `demo.instructedit_state` is its AppState."""
    module = load_app_module()
    demo = module.build_demo(app_settings)
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True,
                **module.launch_options())
    try:
        yield f"http://127.0.0.1:{port}/", demo
    finally:
        demo.close()


@pytest.fixture(scope="session")
def client(served_app, tmp_path_factory):
    from gradio_client import Client

    return Client(served_app[0], verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))
