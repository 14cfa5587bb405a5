"""What several commands share: loading the model and editors, instruction-set files, comma lists."""
from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger("instructedit")
DEFAULT_MODEL = "smollm2-135m"


def csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def editor_model_spec(editor_dir: str | Path) -> str:
    """The model spec an editor folder was trained on (its editor.json), with an error naming the flag."""
    config = Path(editor_dir) / "editor.json"
    if not config.is_file():
        raise FileNotFoundError(f"--editor: {editor_dir} is not an editor folder (no editor.json in it); pass a "
                                "folder that `instructedit train` wrote, e.g. assets/editors/instructedit")
    try:
        return json.loads(config.read_text(encoding="utf-8")).get("model") or DEFAULT_MODEL
    except (ValueError, AttributeError) as err:
        raise ValueError(f"--editor: {config} is not valid editor JSON ({err})") from None


def load_model_and_editor(editor_dir: str, model_spec: str | None):
    from instructedit.editor.editor import Editor
    from instructedit.models.loading import load_model

    model, tokenizer = load_model(model_spec or editor_model_spec(editor_dir))
    return model, tokenizer, Editor.load(editor_dir, model)


def instruction_set(path: str | None) -> dict | None:
    """The --instruction-set file's catalog (None: the built-in one), with errors naming the flag."""
    from instructedit.instructions import load_instruction_set

    if not path:
        return None
    try:
        return load_instruction_set(path)
    except (OSError, ValueError) as err:
        raise ValueError(f"--instruction-set: {path} is not a usable instruction-set file ({err}); pass a JSON "
                         "object mapping tasks to 10 descriptions, e.g. one `instructions optimize` wrote") from err
