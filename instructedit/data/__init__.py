"""Edit records and the loaders that produce them."""
from .loaders import FORMATS, load_records, parse_records
from .records import TASKS, EditRecord, Probe, RecordError

__all__ = ["FORMATS", "TASKS", "EditRecord", "Probe", "RecordError", "load_records", "parse_records"]
