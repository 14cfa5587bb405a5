"""What several commands share: loading the model and editors, comma lists, the instruction help text.

Inputs are checked before any of this runs (see `checks`); a model spec here is already the checked one.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("instructedit")
INSTRUCTION_HELP = "seen | unseen | none | 0-9 | free text (editors trained without instructions get none)"


def csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def load_base_model(spec: str, verbose: bool = False):
    """(model, tokenizer) of a checked model spec; transformers' progress bars and warnings only if `verbose`."""
    from instructedit.models.loading import load_model

    log.info("loading model %s", spec)
    return load_model(spec, quiet=not verbose)


def load_editor(editor_source: str, model):
    """An editor folder or Hub repo id (fetched by the checks already, so read from the cache here)."""
    from instructedit.editor.hub import from_pretrained

    return from_pretrained(editor_source, model)


def load_model_and_editor(editor_dir: str, model_spec: str, verbose: bool = False):
    model, tokenizer = load_base_model(model_spec, verbose)
    return model, tokenizer, load_editor(editor_dir, model)


@contextmanager
def quiet_unless_verbose(args) -> Iterator[None]:
    """For commands whose library code loads the model itself: transformers quiet unless --verbose."""
    from instructedit.models.loading import quiet_transformers

    with quiet_transformers(not getattr(args, "verbose", False)):
        yield


def add_edit_settings(p, max_new_tokens: int, max_allowed: int) -> None:
    """The flags every command that makes edits and generates shares: instruction, instruction set,
    continuation length, model."""
    p.add_argument("--instruction", default="seen", help=INSTRUCTION_HELP)
    p.add_argument("--instruction-set", metavar="FILE", help="instruction-set JSON in place of the built-in catalog")
    p.add_argument("--max-new-tokens", type=int, default=max_new_tokens,
                   help=f"greedy continuation length, 1-{max_allowed} (default: {max_new_tokens})")
    p.add_argument("--model", help="model spec (default: the one the editor was trained on)")
