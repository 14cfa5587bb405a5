"""A toy editing task for tiny models: arbitrary (subject -> word) facts with unrelated locality probes."""
from __future__ import annotations

import random

from instructedit.data.records import EditRecord, Probe

WORDS = ["Paris", "Rome", "Berlin", "London", "Tokyo", "Italy", "Japan", "England", "jazz", "French"]
SUBJECTS = ["Danielle", "Tadej", "Shakespeare", "Eiffel", "Pogacar", "Darrieux", "Hamlet", "Germany"]


def toy_records(n: int, task: str = "counterfact", seed: int = 0) -> list[EditRecord]:
    rng = random.Random(seed)
    records = []
    for i in range(n):
        subject = f"{rng.choice(SUBJECTS)} {i}"
        target = rng.choice(WORDS)
        records.append(EditRecord(
            task=task, prompt=f"The capital of {subject} is", target=target, record_id=str(i), subject=subject,
            rephrases=(f"{subject} is in",),
            locality=(Probe(f"The {rng.choice(WORDS)} of {rng.choice(SUBJECTS)} is", rng.choice(WORDS)),),
        ))
    return records
