"""Shared fixtures: tiny models for fast tests, the default model for slow ones, the shared data folder."""
from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import pytest  # noqa: E402

from instructedit.paths import data_dir  # noqa: E402


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
