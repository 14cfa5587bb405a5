"""SERAC ConvSent (`{ent, pos: [...], neg: [...]}`, as in KnowEdit's blender files) as EditRecords.

The files hold no prompts: questions about the entity come from QUESTION_TEMPLATES (in the spirit of
SERAC / EasyEdit). Per record, drawn once from `random.Random(f"{CONVSENT_SEED}:{ent}")`, so the same
entity always gets the same draw: the requested sentiment (`label`), PROMPTS_PER_RECORD templates (the
first is the edit prompt, the others are paraphrases), the target (one response of that sentiment) and at
most CONTRAST_CAP responses of the other sentiment (`contrast`). The cap bounds the cost of a record (one
teacher-forced row per contrast response; the files hold about 9-11 per sentiment) and keeps sentiment
success ("the target beats every contrast response") comparable between records.

Locality probes need other entities of the same split, so they are added by the task registry
(`instructedit.data.enrich`), not here: the loader reads one file.
"""
from __future__ import annotations

import random
from typing import Any

from .fields import Fields
from .records import MAX_TEXT_CHARS, SENTIMENTS, EditRecord, RecordError, check_text

CONVSENT_SEED = 2024
PROMPTS_PER_RECORD = 4
CONTRAST_CAP = 4
QUESTION_TEMPLATES = (
    "What do you think of {ent}?",
    "What is your opinion of {ent}?",
    "Tell me how you feel about {ent}.",
    "How do you feel about {ent}?",
    "What are your thoughts on {ent}?",
    "What is your view of {ent}?",
    "Do you like {ent}?",
    "What's your take on {ent}?",
    "Give me your honest opinion of {ent}.",
    "Do you have an opinion on {ent}?",
)
MAX_ENTITY_CHARS = MAX_TEXT_CHARS - max(len(t) for t in QUESTION_TEMPLATES)
RESPONSE_FIELDS = {"positive": "pos", "negative": "neg"}


def _responses(f: Fields, key: str) -> list[str]:
    """A sentiment's responses, stripped, blank ones and repeats left out; at least one must remain."""
    value = f.raw.get(key)
    if not isinstance(value, list):
        raise RecordError(f"must be a list of strings, got {type(value).__name__}", field_name=key)
    out: list[str] = []
    for i, text in enumerate(value):
        if not isinstance(text, str):
            raise RecordError(f"must be a string, got {type(text).__name__}", field_name=f"{key}[{i}]")
        check_text(text, f"{key}[{i}]", allow_empty=True)
        if text.strip() and text.strip() not in out:
            out.append(text.strip())
    if not out:
        raise RecordError("must hold at least one non-blank response", field_name=key)
    return out


def question_prompts(ent: str, rng: random.Random, n: int = PROMPTS_PER_RECORD) -> tuple[str, ...]:
    return tuple(template.format(ent=ent) for template in rng.sample(QUESTION_TEMPLATES, n))


def parse_convsent_blender(raw: Any, index: int) -> EditRecord:
    f = Fields(raw)
    ent = f.text("ent").strip()
    check_text(ent, "ent")
    if len(ent) > MAX_ENTITY_CHARS:
        raise RecordError(f"is {len(ent)} characters long; the limit is {MAX_ENTITY_CHARS}", field_name="ent")
    responses = {label: _responses(f, key) for label, key in RESPONSE_FIELDS.items()}
    rng = random.Random(f"{CONVSENT_SEED}:{ent}")
    label = rng.choice(SENTIMENTS)
    other = SENTIMENTS[1 - SENTIMENTS.index(label)]
    prompts = question_prompts(ent, rng)
    target = rng.choice(responses[label])
    pool = [text for text in responses[other] if text != target]
    if not pool:
        raise RecordError(f"must hold a response other than the {label} target", field_name=RESPONSE_FIELDS[other])
    chosen = sorted(rng.sample(range(len(pool)), min(CONTRAST_CAP, len(pool))))
    return EditRecord(
        task="convsent", prompt=prompts[0], target=target, record_id=f.text("id", str(index)), subject=ent,
        rephrases=prompts[1:], topic=ent, label=label, contrast=tuple(pool[i] for i in chosen),
        meta={"responses": {label: len(responses[label]), other: len(responses[other])}},
    )
