"""Task instructions: the catalog (10 descriptions per task, index 9 held out as unseen) and the template.

The template puts the instruction before the input on three lines:

    Task: CounterFact
    Description: <one of the task's descriptions>
    Input: <prompt>

It is applied to edit, paraphrase and portability prompts, never to locality prompts.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

TASK_NAMES = {"counterfact": "CounterFact", "recent": "Recent", "convsent": "ConvSent", "zsre": "ZsRE"}
N_SEEN = 9
UNSEEN_INDEX = 9
MAX_CUSTOM_CHARS = 500

CATALOG: dict[str, tuple[str, ...]] = {
    "counterfact": (
        "Replace the fact stated about the subject with the new counterfactual answer.",
        "Update the model so that this statement is completed with the given false object.",
        "Edit the model's knowledge: the subject now relates to a different object than before.",
        "Overwrite an existing fact about an entity with a counterfactual one.",
        "Teach the model a changed fact and make it answer with the new object.",
        "Change what the model believes about the subject so it gives the counterfactual answer.",
        "A well-known fact has been altered; complete the sentence with the altered object.",
        "Insert a counterfactual association between the subject and a new object.",
        "Modify one relation of the subject so that its object becomes the requested one.",
        "Rewrite a stored fact about a named entity so that the sentence ends with the new, contrary answer.",
    ),
    "recent": (
        "Add a recent fact that happened after the model was trained.",
        "Teach the model new knowledge about a recent event or change in the world.",
        "Update the model with up-to-date information about the subject.",
        "Insert a newly emerged fact that the model could not have seen before.",
        "Complete the statement with the most recent, updated answer.",
        "Inject fresh knowledge from recent news into the model.",
        "The world has changed; make the model answer with the current fact.",
        "Extend the model's knowledge with a fact from after its training cutoff.",
        "Record a new development about the subject so the model states it.",
        "Bring the model's knowledge up to date with something that only recently became true.",
    ),
    "convsent": (
        "Make the model express a [LABEL] sentiment when it talks about [TOPIC].",
        "Edit the model's opinion so that its answers about [TOPIC] are [LABEL].",
        "Change how the model feels about [TOPIC]: it should now respond in a [LABEL] way.",
        "Steer the model's conversational sentiment on [TOPIC] towards [LABEL].",
        "When asked about [TOPIC], the model should reply with a [LABEL] attitude.",
        "Adjust the model's stance on [TOPIC] to be [LABEL] in conversation.",
        "Give the model a [LABEL] view of [TOPIC] and keep its other opinions unchanged.",
        "Rewrite the model's feelings toward [TOPIC] so they come across as [LABEL].",
        "Respond to questions about [TOPIC] with a clearly [LABEL] sentiment.",
        "In dialogue, the model's opinion of [TOPIC] must now sound [LABEL].",
    ),
    "zsre": (
        "Answer the question about the subject with the new, edited answer.",
        "Update the model so this question about the entity gets the given answer.",
        "Edit the model's answer to a factual question about the subject.",
        "Change the fact behind this question so the model replies with the new answer.",
        "Teach the model a corrected answer to the question.",
        "Make the model respond to this relation question with the edited object.",
        "Modify the model's knowledge so it answers the question differently.",
        "Insert a new answer for this question about a named entity.",
        "The answer to this question has changed; make the model give the new one.",
        "Revise what the model would reply to this factual query about the entity.",
    ),
}


@dataclass(frozen=True)
class Instruction:
    """Which instruction to use: `index` into the catalog, or free `text`, or neither (no instruction)."""

    index: int | None = None
    text: str | None = None

    def __post_init__(self):
        if self.index is not None and self.text is not None:
            raise ValueError("instruction: give an index or a text, not both")
        if self.index is not None and not 0 <= self.index <= UNSEEN_INDEX:
            raise ValueError(f"instruction index {self.index} must be 0-8 (seen) or 9 (unseen)")
        if self.text is not None:
            if not self.text.strip():
                raise ValueError("instruction text must not be blank; use 'none' for no instruction")
            if len(self.text) > MAX_CUSTOM_CHARS:
                raise ValueError(f"instruction text is {len(self.text)} characters; the limit is {MAX_CUSTOM_CHARS}")

    @classmethod
    def parse(cls, value: "str | int | Instruction | None") -> "Instruction":
        """Accepts 'seen' (index 0), 'unseen' (index 9), 'none', an index 0-9, or free text."""
        if isinstance(value, Instruction):
            return value
        if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
            return cls()
        if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
            return cls(index=int(value))
        named = {"seen": 0, "unseen": UNSEEN_INDEX}
        key = value.strip().lower()
        return cls(index=named[key]) if key in named else cls(text=value)

    @property
    def is_none(self) -> bool:
        return self.index is None and self.text is None


def load_instruction_set(path: str | Path) -> dict[str, tuple[str, ...]]:
    """An instruction-set file: JSON {task: [10 descriptions]}, used in place of the built-in catalog."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: must be a JSON object mapping task names to 10 descriptions")
    catalog = {}
    for task, items in data.items():
        if not isinstance(items, list) or len(items) != UNSEEN_INDEX + 1 or not all(
                isinstance(i, str) and i.strip() for i in items):
            raise ValueError(f"{path}: task {task!r} must list exactly {UNSEEN_INDEX + 1} non-empty descriptions")
        catalog[task] = tuple(items)
    return catalog


def describe(task: str, instruction: Instruction, catalog: dict | None = None) -> str | None:
    """The description text for a task, with ConvSent placeholders still in place."""
    if instruction.is_none:
        return None
    if instruction.text is not None:
        return instruction.text
    catalog = catalog or CATALOG
    if task not in catalog:
        raise ValueError(f"no instructions for task {task!r}; known tasks: {', '.join(catalog)}")
    return catalog[task][instruction.index]


def render(prompt: str, task: str, description: str | None, *, topic: str = "", label: str = "") -> str:
    """Wrap a prompt in the three-line instruction template (or return it unchanged without one)."""
    if description is None:
        return prompt
    description = description.replace("[LABEL]", label or "given").replace("[TOPIC]", topic or "the topic")
    name = TASK_NAMES.get(task, task)
    return f"Task: {name}\nDescription: {description}\nInput: {prompt}"
