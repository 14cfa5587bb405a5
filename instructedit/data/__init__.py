"""Edit records and the loaders that produce them."""
from .loaders import FORMATS, check_format, detect_format, load_records, parse_records
from .records import PROBE_KINDS, TASKS, EditRecord, Probe, RecordError

__all__ = ["FORMATS", "PROBE_KINDS", "TASKS", "EditRecord", "Probe", "RecordError", "check_format",
           "detect_format", "load_records", "parse_records"]
