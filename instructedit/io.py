"""Atomic file writes (temp file in the same folder, fsync, rename): a reader never sees half a file."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # torch loads in ~2 s: writing JSON needs none of it
    import torch

_FILE_MODE = 0o644  # mkstemp makes 0600 files; results and figures should be readable by others


def _atomic(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return _atomic(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_write_json(path: str | os.PathLike, data) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def atomic_save_tensors(tensors: dict[str, "torch.Tensor"], path: str | os.PathLike, metadata: dict | None = None) -> Path:
    from safetensors.torch import save_file

    return _atomic(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))
