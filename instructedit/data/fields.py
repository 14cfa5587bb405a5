"""Typed access to one raw JSON record, shared by every loader; errors carry the field name."""
from __future__ import annotations

from typing import Any

from .records import RecordError


class Fields:
    """Typed access to one raw record; errors carry the field name."""

    def __init__(self, raw: Any):
        if not isinstance(raw, dict):
            raise RecordError(f"must be a JSON object, got {type(raw).__name__}")
        self.raw = raw

    def text(self, key: str, default: str | None = None) -> str:
        if key not in self.raw or self.raw[key] is None:
            if default is None:
                raise RecordError("is missing", field_name=key)
            return default
        value = self.raw[key]
        if isinstance(value, (int, float)) and not isinstance(value, bool) and key.endswith("id"):
            return str(value)
        if not isinstance(value, str):
            raise RecordError(f"must be a string, got {type(value).__name__}", field_name=key)
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        value = self.raw.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,) if value.strip() else ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise RecordError("must be a string or a list of strings", field_name=key)
        return tuple(value)
