"""InstructEdit: instruction-based knowledge editing with MEND editors.

Public API: load_model, Editor, EditorConfig, Edit, EditRecord, load_records, Instruction, make_edit,
edit_and_report. Names load on first use (PEP 562), so `import instructedit.data` does not import torch.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "CATALOG": ".instructions", "Instruction": ".instructions",
    "Edit": ".editor.edit", "Editor": ".editor.editor", "EditorConfig": ".editor.editor",
    "EditorContract": ".editor.contract",
    "EditRecord": ".data", "Probe": ".data", "load_records": ".data",
    "edit_and_report": ".api", "make_edit": ".api", "load_model": ".models",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'instructedit' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
