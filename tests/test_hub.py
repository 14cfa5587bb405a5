"""Editors on the Hub without the network: `push_to_hub` with HfApi's create_repo / upload_folder captured,
the captured files laid out as a local Hub cache (models--owner--name/snapshots/<rev>, refs/main) and
`from_pretrained` reading them offline: same weights, a working edit, the fingerprint checked."""
from __future__ import annotations

import shutil
from pathlib import Path

import huggingface_hub
import pytest
import torch
from huggingface_hub import constants

from instructedit.editor.editor import Editor
from instructedit.models import fingerprint, tiny_model
from instructedit.tokenize import encode_batch
from tiny_editors import tiny_editor

REPO = "someone/tiny-editor"
REVISION = "0" * 40


@pytest.fixture()
def hub(monkeypatch, tmp_path):
    """Captures uploads into a fake Hub cache under tmp_path; snapshot_download runs offline on it."""
    cache = tmp_path / "hub-cache"
    uploads: dict = {}
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)

    def create_repo(self, repo_id, **kwargs):
        uploads["created"] = (repo_id, kwargs)

    def upload_folder(self, *, folder_path, repo_id, allow_patterns=None, **kwargs):
        repo = cache / f"models--{repo_id.replace('/', '--')}"
        snapshot = repo / "snapshots" / REVISION
        files = sorted(p.name for p in Path(folder_path).iterdir())
        shutil.copytree(folder_path, snapshot)
        (repo / "refs").mkdir(parents=True)
        (repo / "refs" / "main").write_text(REVISION)
        uploads["files"], uploads["allow"] = files, allow_patterns
        return f"https://huggingface.co/{repo_id}/commit/{REVISION}"

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    return uploads, cache


@pytest.fixture(scope="module")
def tiny_setup():
    model, tokenizer = tiny_model("llama")
    editor = tiny_editor(model, tokenizer, jitter=0.05, alpha=-20.0)
    editor.model_spec = "tiny-llama"
    editor.meta = {"metrics": {"reliability": 0.91, "locality": 0.97}, "train": {"steps": 3}}
    return model, tokenizer, editor


def test_push_uploads_safetensors_json_and_card(hub, tiny_setup):
    uploads, _ = hub
    model, _, editor = tiny_setup
    editor.push_to_hub(REPO, private=True)
    assert uploads["created"][0] == REPO and uploads["created"][1]["private"] is True
    assert uploads["files"] == ["README.md", "editor.json", "editor.safetensors"]
    assert set(uploads["allow"]) == set(uploads["files"])
    snapshot = hub[1] / "models--someone--tiny-editor" / "snapshots" / REVISION
    card = (snapshot / "README.md").read_text()
    for expected in ("license: apache-2.0", "base_model: tiny-llama", fingerprint(model), "| reliability | 0.9100 |",
                     "Editor.from_pretrained('someone/tiny-editor', model)", "Tasks: counterfact"):
        assert expected in card
    assert not [p for p in snapshot.iterdir() if p.suffix in {".bin", ".pt", ".pkl", ".pth"}]


def test_round_trip_same_weights_and_edit(hub, tiny_setup):
    model, tokenizer, editor = tiny_setup
    editor.push_to_hub(REPO)
    loaded = Editor.from_pretrained(REPO, model)
    for (name, a), (_, b) in zip(editor.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    batch = encode_batch(tokenizer, ["The capital of Tadej 1 is"], [" Rome"])
    a, b = editor.edit(model, batch), loaded.edit(model, batch)
    for name in editor.weight_names:
        torch.testing.assert_close(a.factors[name].u, b.factors[name].u)
        torch.testing.assert_close(a.factors[name].d, b.factors[name].d)
    assert loaded.meta["metrics"]["reliability"] == 0.91


def test_from_pretrained_checks_the_fingerprint(hub, tiny_setup):
    _, _, editor = tiny_setup
    editor.push_to_hub(REPO)
    other, _ = tiny_model("llama", seed=1)
    with pytest.raises(ValueError, match="fingerprint"):
        Editor.from_pretrained(REPO, other)


def test_from_pretrained_local_directory(tmp_path, tiny_setup):
    model, _, editor = tiny_setup
    editor.save(tmp_path / "ed")
    assert Editor.from_pretrained(tmp_path / "ed", model).weight_names == editor.weight_names


def test_the_command_line_takes_a_hub_id_where_it_takes_an_editor_folder(hub, tiny_setup, capsys, caplog):
    """`instructedit edit --editor owner/name` fetches the editor (here from the offline stand-in cache)
    and edits with it exactly as with the folder it was pushed from; an unknown id is a clear error."""
    import json

    from workbench.cli import main

    model, _, editor = tiny_setup
    editor.push_to_hub(REPO)
    argv = ["edit", "--prompt", "The capital of France is", "--target", "Rome", "--instruction", "none",
            "--max-new-tokens", "4"]
    assert main([*argv, "--editor", REPO]) == 0
    from_hub = json.loads(capsys.readouterr().out)
    snapshot = hub[1] / "models--someone--tiny-editor" / "snapshots" / REVISION
    assert main([*argv, "--editor", str(snapshot)]) == 0
    from_folder = json.loads(capsys.readouterr().out)
    assert from_hub["after"] == from_folder["after"] and from_hub["reliability"] == from_folder["reliability"]
    assert main([*argv, "--editor", "someone/no-such-editor"]) == 2
    assert "--editor: someone/no-such-editor is no folder here and could not be fetched" in caplog.text


def test_the_app_lists_and_loads_a_hub_id_editor(hub, tiny_setup, tmp_path):
    """INSTRUCTEDIT_EDITORS names a Hub id: the app lists it beside its folder's editors without fetching
    anything, then loads it from the (stand-in) Hub on first use; a wrong id is an Unavailable naming it."""
    from workbench.ui.state import AppState, Settings, Unavailable

    model, _, editor = tiny_setup
    editor.push_to_hub(REPO)
    settings = Settings.from_env({"INSTRUCTEDIT_MODEL": "tiny-llama", "INSTRUCTEDIT_EDITORS_DIR": str(tmp_path / "none"),
                                  "INSTRUCTEDIT_EDITORS": f"{REPO}, someone/missing"})
    state = AppState(settings)
    assert state.editor_names() == [REPO, "someone/missing"]
    assert state.editor_info(REPO)["model"] == "tiny-llama"
    loaded = state.editor(REPO)
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), editor.state_dict().values()))
    with pytest.raises(Unavailable, match="'someone/missing' could not be fetched"):
        state.editor_info("someone/missing")
