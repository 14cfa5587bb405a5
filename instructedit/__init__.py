"""InstructEdit: instruction-based knowledge editing with MEND editors.

Public API: load_model, Editor, EditorConfig, Edit, EditRecord, load_records, Instruction, make_edit.
"""
from .api import edit_and_report, make_edit
from .data import EditRecord, Probe, load_records
from .editor.edit import Edit
from .editor.editor import Editor, EditorConfig
from .instructions import CATALOG, Instruction
from .models import load_model

__all__ = ["CATALOG", "Edit", "EditRecord", "Editor", "EditorConfig", "Instruction", "Probe", "edit_and_report",
           "load_model", "load_records", "make_edit"]
