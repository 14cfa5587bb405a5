"""Editors on the Hugging Face Hub: `push_to_hub` uploads editor.safetensors + editor.json + a model card;
`from_pretrained` loads from a local directory or a Hub repo (snapshot_download, safetensors only) with the
base-weight fingerprint checked by `Editor.load`."""
from __future__ import annotations

import json
import logging
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from .files import CONFIG_FILE, EDITOR_FILES

if TYPE_CHECKING:
    from torch import nn

    from .editor import Editor

log = logging.getLogger(__name__)

CARD_FILE = "README.md"
LICENSE = "apache-2.0"
_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def _files() -> list[str]:
    return [*EDITOR_FILES, CARD_FILE]


def is_hub_id(source: str | Path) -> bool:
    """Whether `source` reads as a Hub repo id ("owner/name") and is not a path on this machine."""
    return not Path(source).exists() and bool(_REPO_ID.fullmatch(str(source)))


def editor_dir(source: str | Path, *, revision: str | None = None, token: str | None = None) -> Path:
    """A local folder holding the editor `source`: the folder itself, or a Hub repo id's snapshot (only its
    safetensors, JSON and card; from the local cache when HF_HUB_OFFLINE is set). No torch import."""
    if not is_hub_id(source):
        return Path(source)
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(str(source), revision=revision, token=token, repo_type="model",
                                  allow_patterns=_files()))


def _metrics_table(metrics: dict) -> str:
    rows = [f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in sorted(metrics.items())]
    return "\n".join(["| metric | value |", "|---|---|", *rows]) if rows else "No validation metrics recorded."


def model_card(info: dict, repo_id: str) -> str:
    """The README.md of an uploaded editor, from its editor.json."""
    editor = info.get("editor", {})
    base = info.get("model") or "unknown"
    tasks = ", ".join(editor.get("tasks", ())) or "unknown"
    data = info.get("train", {}).get("data", info.get("data", tasks))
    weights = "\n".join(f"- `{name}` ({i} x {o})" for name, (i, o) in info.get("weights", {}).items())
    return f"""---
license: {LICENSE}
library_name: instructedit
tags: [knowledge-editing, mend, instructedit]
base_model: {base}
---
# {repo_id}

An InstructEdit (MEND hypernetwork) knowledge editor for **{base}**.

- Base model: `{base}`; base-weight fingerprint `{info.get("model_fingerprint", "")}` (loading checks it)
- Mode: {editor.get("mode", "?")}; edits the last {editor.get("edit_last_k", "?")} blocks, rank {editor.get("rank", "?")}
- Tasks: {tasks}; data: {data}
- Licence: Apache-2.0

## Edited weights
{weights}

## Validation metrics
{_metrics_table(info.get("metrics", {}))}

## Use
```python
from instructedit.editor.editor import Editor
from instructedit.models import load_model

model, tokenizer = load_model({base!r})
editor = Editor.from_pretrained({repo_id!r}, model)
```
Weights are safetensors only (nothing pickled).
"""


def save_for_upload(editor: "Editor", directory: Path, repo_id: str, *, half: bool = False) -> list[Path]:
    """Write the editor and its model card into `directory`; returns the files to upload."""
    editor.save(directory, half=half)
    info = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
    (directory / CARD_FILE).write_text(model_card(info, repo_id), encoding="utf-8")
    return [directory / name for name in _files()]


def push_to_hub(editor: "Editor", repo_id: str, *, private: bool = False, token: str | None = None,
                commit_message: str = "Upload InstructEdit editor", half: bool = False):
    """Create (or reuse) the model repo and upload the editor, its editor.json and model card."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        save_for_upload(editor, Path(tmp), repo_id, half=half)
        result = api.upload_folder(folder_path=tmp, repo_id=repo_id, repo_type="model",
                                   commit_message=commit_message, allow_patterns=_files())
    log.info("uploaded editor to %s", repo_id)
    return result


def from_pretrained(source: str | Path, model: "nn.Module", *, revision: str | None = None,
                    token: str | None = None, check_fingerprint: bool = True) -> "Editor":
    """An editor from a local directory, or from Hub repo `source` (only its safetensors, JSON and card)."""
    from .editor import Editor

    local = editor_dir(source, revision=revision, token=token)
    return Editor.load(local, model, check_fingerprint=check_fingerprint)
