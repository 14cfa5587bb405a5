"""Shared fixtures: tiny models for fast tests, the default model for slow ones, the shared data folder."""
from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    # parallel workers (`make test` runs `pytest -n 2`) share the cores: torch in each worker, and every
    # process a test starts, uses its share instead of all of them (set before torch is imported)
    _threads = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    os.environ.setdefault("OMP_NUM_THREADS", _threads)
    os.environ.setdefault("MKL_NUM_THREADS", _threads)

import pytest  # noqa: E402

from instructedit.paths import data_dir  # noqa: E402

# the app tests' session fixtures (tiny editors, assets, one served app), shared by every module
pytest_plugins = ["app_support"]


def pytest_collection_modifyitems(items):
    """Tests marked `long` first, then the `slow` tier, then the rest: a parallel run hands out the largest
    files first (one worker takes the quick reproduction while the other works through the slow files), and the
    many short ones last even out the end, so the workers finish together."""
    items.sort(key=lambda item: (item.get_closest_marker("long") is None, item.get_closest_marker("slow") is None))


@pytest.fixture(scope="session", params=["tiny-gpt2", "tiny-llama"])
def tiny(request):
    from instructedit.models import load_model

    return load_model(request.param)


@pytest.fixture(scope="session")
def tiny_llama():
    from instructedit.models import load_model

    return load_model("tiny-llama")


@pytest.fixture(scope="session")
def default_model():
    from instructedit.models import load_model

    return load_model("smollm2-135m")


@pytest.fixture(scope="session")
def shared_data():
    path = data_dir()
    if path is None or not path.is_dir():
        pytest.skip("shared data folder absent: set INSTRUCTEDIT_DATA_DIR (default ../shared/data)")
    return path


@pytest.fixture(scope="session")
def save_tiny_editor(tiny_llama):
    """A function (folder, jitter=0.0) -> folder that saves a rank-8 editor of tiny-llama's last block.

    `jitter` adds noise to the identity-initialised networks, so that the editor's input (for example the
    instruction) changes the edit."""
    from tiny_editors import tiny_editor

    model, tokenizer = tiny_llama

    def save(path, jitter: float = 0.0):
        tiny_editor(model, tokenizer, jitter=jitter).save(path)
        return path

    return save


@pytest.fixture(scope="session")
def tiny_counterfact_file(tmp_path_factory):
    """A CounterFact file of 6 synthetic records ("The capital of Fact i is" -> Rome)."""
    import json

    path = tmp_path_factory.mktemp("data") / "cf.json"
    path.write_text(json.dumps([{"case_id": i, "prompt": f"The capital of Fact {i} is", "target_new": "Rome",
                                 "rephrase_prompt": f"Fact {i} is in", "locality_prompt": "Tokyo is in",
                                 "locality_ground_truth": "Japan"} for i in range(6)]))
    return path
