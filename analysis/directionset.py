"""DirectionSet: editing-direction vectors plus one metadata row per vector.

This is the data interface between the editor side (which extracts directions such
as the editor-transformed layer input ``u~`` per edit) and the analysis side
(projection, separation scores, figures).

On disk a set is two files written atomically:

* ``<name>.safetensors`` - the ``vectors`` tensor (float16 by default, or float32);
* ``<name>.json`` - a sidecar with the metadata rows and format information.

No pickle is involved anywhere.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from instructedit.io import atomic_write_bytes, atomic_write_text

logger = logging.getLogger(__name__)

META_COLUMNS: tuple[str, ...] = ("editor", "task", "record_id", "instruction", "kind")
KINDS: frozenset[str] = frozenset({"u_tilde", "delta_tilde", "u_raw"})
FORMAT_NAME = "instructedit.directionset"
FORMAT_VERSION = 1
_TENSOR_KEY = "vectors"
_DTYPES: dict[str, type[np.floating]] = {"float16": np.float16, "float32": np.float32}

Selector = str | Iterable[str] | None


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """Return the JSON sidecar path that belongs to a ``.safetensors`` file."""
    return Path(path).with_suffix(".json")


@dataclass
class DirectionSet:
    """Vectors (n x d, float32) and a metadata frame with one row per vector.

    ``meta`` must have the columns ``editor, task, record_id, instruction, kind``
    (extra columns are kept); ``kind`` is one of ``u_tilde``, ``delta_tilde``, ``u_raw``.
    """

    vectors: np.ndarray
    meta: pd.DataFrame

    def __post_init__(self) -> None:
        vectors = np.asarray(self.vectors, dtype=np.float32)
        if vectors.ndim == 1 and vectors.size == 0:
            vectors = vectors.reshape(0, 0)
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be 2-D (n x d), got shape {vectors.shape}")
        missing = [c for c in META_COLUMNS if c not in self.meta.columns]
        if missing:
            raise ValueError(f"meta is missing columns {missing}; required: {list(META_COLUMNS)}")
        if len(self.meta) != vectors.shape[0]:
            raise ValueError(f"meta has {len(self.meta)} rows but there are {vectors.shape[0]} vectors")
        bad_kinds = sorted(set(self.meta["kind"].astype(str)) - KINDS)
        if bad_kinds:
            raise ValueError(f"unknown kind(s) {bad_kinds}; allowed: {sorted(KINDS)}")
        self.vectors = vectors
        self.meta = self.meta.reset_index(drop=True)

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def dim(self) -> int:
        """Dimension d of the vectors."""
        return int(self.vectors.shape[1])

    def subset(self, editor: Selector = None, task: Selector = None, kind: Selector = None) -> DirectionSet:
        """Rows whose editor/task/kind match; each selector is a value, a list of values or None (any)."""
        mask = np.ones(len(self), dtype=bool)
        for column, selector in (("editor", editor), ("task", task), ("kind", kind)):
            if selector is None:
                continue
            values = [selector] if isinstance(selector, str) else list(selector)
            mask &= self.meta[column].isin(values).to_numpy()
        return DirectionSet(self.vectors[mask], self.meta.loc[mask].reset_index(drop=True))

    def save(self, path: str | os.PathLike[str], dtype: str = "float16") -> tuple[Path, Path]:
        """Write ``path`` (safetensors) and its JSON sidecar atomically; return both paths.

        ``dtype`` is ``"float16"`` (default, half the size) or ``"float32"``.
        """
        if dtype not in _DTYPES:
            raise ValueError(f"unknown dtype {dtype!r}; allowed: {sorted(_DTYPES)}")
        stored = _cast_checked(self.vectors, dtype)
        header = {"format": FORMAT_NAME, "version": str(FORMAT_VERSION)}
        tensor_path = atomic_write_bytes(path, st_save({_TENSOR_KEY: stored}, metadata=header))
        sidecar = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "n": len(self),
            "dim": self.dim,
            "dtype": dtype,
            "columns": [str(c) for c in self.meta.columns],
            "records": json.loads(self.meta.to_json(orient="records", force_ascii=False)),
        }
        meta_path = atomic_write_text(sidecar_path(path), json.dumps(sidecar, ensure_ascii=False, indent=1))
        logger.info("saved %d directions (d=%d, %s) to %s", len(self), self.dim, dtype, tensor_path)
        return tensor_path, meta_path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DirectionSet:
        """Read a set written by :meth:`save`; vectors come back as float32."""
        tensors = st_load(Path(path).read_bytes())
        if _TENSOR_KEY not in tensors:
            raise ValueError(f"{path} holds no {_TENSOR_KEY!r} tensor (keys: {sorted(tensors)})")
        sidecar = json.loads(sidecar_path(path).read_text(encoding="utf-8"))
        if sidecar.get("format") != FORMAT_NAME:
            raise ValueError(f"{sidecar_path(path)} is not a {FORMAT_NAME} sidecar")
        vectors = tensors[_TENSOR_KEY].astype(np.float32)
        if vectors.shape[0] != sidecar["n"]:
            raise ValueError(f"{path}: {vectors.shape[0]} vectors but sidecar says n={sidecar['n']}")
        meta = pd.DataFrame.from_records(sidecar["records"], columns=sidecar["columns"])
        if vectors.shape[0] == 0:
            vectors = vectors.reshape(0, int(sidecar["dim"]))
        return cls(vectors, meta)

    @staticmethod
    def concat(sets: Sequence[DirectionSet]) -> DirectionSet:
        """Stack several sets into one (see the module-level :func:`concat`)."""
        return concat(sets)

    @classmethod
    def empty(cls, dim: int) -> DirectionSet:
        """A set with no vectors of dimension ``dim``."""
        return cls(np.zeros((0, dim), dtype=np.float32), pd.DataFrame({c: [] for c in META_COLUMNS}))


def _cast_checked(vectors: np.ndarray, dtype: str) -> np.ndarray:
    """Cast to ``dtype``; refuse values that would overflow to inf in float16."""
    target = _DTYPES[dtype]
    if vectors.size and target is np.float16:
        peak = float(np.nanmax(np.abs(vectors)))
        if peak > float(np.finfo(np.float16).max):
            raise ValueError(f"max |value| {peak:.3g} overflows float16; save with dtype='float32'")
    return np.ascontiguousarray(vectors.astype(target))


def concat(sets: Sequence[DirectionSet]) -> DirectionSet:
    """Stack several sets (same dimension) into one, rows in the given order."""
    sets = list(sets)
    if not sets:
        raise ValueError("concat needs at least one DirectionSet")
    dims = {s.dim for s in sets}
    if len(dims) != 1:
        raise ValueError(f"cannot concat sets of different dimensions {sorted(dims)}")
    vectors = np.concatenate([s.vectors for s in sets], axis=0)
    meta = pd.concat([s.meta for s in sets], ignore_index=True)
    return DirectionSet(vectors, meta)
