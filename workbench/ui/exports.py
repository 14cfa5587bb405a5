"""Files handed to the browser for download: written once per content into a private temp folder.

Names are content-addressed (`<sha12>/<name>`), so repeated requests reuse a file and concurrent ones never
collide; folders older than MAX_AGE_S are pruned on each write. Gradio copies them into its own cache.
"""
from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import time
from pathlib import Path

from instructedit.io import atomic_write_bytes

log = logging.getLogger(__name__)
MAX_AGE_S = 3600


def export_dir() -> Path:
    folder = Path(tempfile.gettempdir()) / "instructedit-ui"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _prune(folder: Path) -> None:
    cutoff = time.time() - MAX_AGE_S
    for child in folder.iterdir():
        try:
            if child.is_dir() and child.stat().st_mtime < cutoff:
                shutil.rmtree(child, ignore_errors=True)
        except OSError:  # another request pruned it first
            continue


def write_download(name: str, data: bytes | str) -> Path:
    """A file `name` holding `data`; the same content gives the same path."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    folder = export_dir()
    _prune(folder)
    path = folder / hashlib.sha256(payload).hexdigest()[:12] / name
    if not path.is_file():
        atomic_write_bytes(path, payload)
    return path
