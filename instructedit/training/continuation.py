"""What the edited model should say *after* the new fact: the base model's own continuation of
prompt + target, as a token pair whose labels are the continuation tokens only.

The continuation KL of the training objective keeps the edited model's next-token distributions on these
positions close to the base model's: an edit that makes the target likely everywhere after the subject
("euro euro euro ...") pays for it here, while the target itself is still learned by the edit loss.
"""
from __future__ import annotations

import logging

from ..editor.batched_generation import continue_ids
from ..prompts import Example, Pair
from ..tokenize import IGNORE

log = logging.getLogger(__name__)


def example_key(example: Example) -> tuple:
    return (example.record.task, example.record.record_id, tuple(example.edit[0]))


def continuation_pairs(model, examples: list[Example], pad_id: int, n_tokens: int) -> dict[tuple, Pair]:
    """example key -> (prompt + target + continuation ids, labels on the continuation): examples whose base
    continuation is empty (an immediate eos) get none."""
    unique = {example_key(ex): ex for ex in examples}
    keys = list(unique)
    prompts = [list(unique[k].edit[0]) for k in keys]
    continued = continue_ids(model, prompts, pad_id, n_tokens)
    pairs = {key: (ids + more, [IGNORE] * len(ids) + more)
             for key, ids, more in zip(keys, prompts, continued) if more}
    log.info("base continuations: %d of %d examples, %d tokens each at most", len(pairs), len(keys), n_tokens)
    return pairs
