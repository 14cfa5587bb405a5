"""Where things live: the shared data folder, the user cache, the shipped assets."""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
ASSETS_DIR = Path(os.environ.get("INSTRUCTEDIT_ASSETS", PROJECT_DIR / "assets"))


def data_dir() -> Path | None:
    """The shared knowledge-editing data: $INSTRUCTEDIT_DATA_DIR, else ../shared/data beside the project."""
    env = os.environ.get("INSTRUCTEDIT_DATA_DIR")
    if env:
        return Path(env)
    default = PROJECT_DIR.parent / "shared" / "data"
    return default if default.is_dir() else None


def data_file(name: str) -> Path:
    """A file of the shared data folder, with an error that names the setting to fix."""
    base = data_dir()
    if base is None or not (base / name).is_file():
        raise FileNotFoundError(
            f"data file {name!r} not found (looked in {base or '../shared/data'}); "
            "set INSTRUCTEDIT_DATA_DIR to the folder that holds it"
        )
    return base / name


def cache_dir() -> Path:
    """User cache (converted models, trunk caches): $INSTRUCTEDIT_CACHE or ~/.cache/instructedit."""
    env = os.environ.get("INSTRUCTEDIT_CACHE")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "instructedit"
    base.mkdir(parents=True, exist_ok=True)
    return base
