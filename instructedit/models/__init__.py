"""Models: loading (default GGUF, tiny, local, hub) and the family registry."""
from .families import FAMILIES, Family, editable_weight_names, family_of
from .loading import DEFAULT_MODEL, fingerprint, load_model
from .tiny import tiny_model, tiny_tokenizer

__all__ = ["FAMILIES", "Family", "DEFAULT_MODEL", "editable_weight_names", "family_of", "fingerprint",
           "load_model", "tiny_model", "tiny_tokenizer"]
