"""The files of an editor folder (what `Editor.save` writes and `Editor.load` reads); no torch import,
so command-line checks and the app can look at folders before anything heavy loads."""
from __future__ import annotations

WEIGHTS_FILE = "editor.safetensors"
CONFIG_FILE = "editor.json"
EDITOR_FILES = (CONFIG_FILE, WEIGHTS_FILE)
