"""Slow tier: the five hand edits of issue #13 through the command line, judged by what the model says.

The shipped editor does not pass them all yet (README, Results): the cases it misses are listed in
MISSES with what it says, as strict xfails, so a retrained editor that fixes one fails here until the list
is updated, and one that breaks a passing case fails as well.

Each edit goes through `instructedit edit --file` (one model load): the edited model must say the target
first for the plain prompt and not loop on it. Each edit's neighbours (same relation, another subject)
go through `instructedit ask` with that one edit: the edited model must answer them as the base model
does (same first words) and must not say the edit's target.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from instructedit.evaluation.answers import contains_answer, normalise, starts_with_answer
from instructedit.evaluation.degeneration import is_degenerate
from instructedit.paths import ASSETS_DIR

pytestmark = pytest.mark.slow
EDITOR = ASSETS_DIR / "editors" / "instructedit"
FIRST_WORDS = 3  # a neighbour keeps its answer: the same first words as the base model's continuation

# (task, prompt, target, neighbour prompts): the table and the leaks it found
HAND_EDITS = (
    ("counterfact", "The official currency of Japan is the", "euro",
     ("The official currency of China is the", "The official currency of India is the")),
    ("recent", "The 2026 FIFA World Cup final was won by", "Morocco",
     ("The 2022 FIFA World Cup final was won by",)),
    ("counterfact", "The author of the Harry Potter novels is", "Stephen King",
     ("The author of The Lord of the Rings is",)),
    ("counterfact", "The Eiffel Tower is located in the city of", "Rome",
     ("The capital of France is", "The Colosseum is located in the city of")),
    ("recent", "The CEO of Twitter is", "Linda Yaccarino", ("The CEO of Apple is",)),
)

# (test, target) -> what the shipped editor said instead (greedy, on this CPU, with the learned step; the
# same six failed with the edit-time step search; with the loop repair after it, five: "euro" now passes
# with ' euro.\n\nThe euro is the euro currency.\n\nThe official currency of Japan is the')
MISSES = {
    ("first", "Morocco"): "loops on the target: ' Morocco, who had been playing Morocco in Morocco, Morocco, ...'",
    ("first", "Linda Yaccarino"): "does not say it: ' a non-profit organization that focuses on ...'",
    ("neighbours", "euro"): "leaks: 'The official currency of China is the' -> ' euro.'",
    ("neighbours", "Morocco"): "leaks: 'The 2022 FIFA World Cup final was won by' -> ' Morocco, ...'",
    ("neighbours", "Rome"): "leaks: 'The capital of France is' -> ' Rome. Rome is the largest city ...'",
}


def _cases(test: str) -> list:
    return [pytest.param(i, id=e[2], marks=[pytest.mark.xfail(strict=True, reason=MISSES[(test, e[2])])]
                         if (test, e[2]) in MISSES else []) for i, e in enumerate(HAND_EDITS)]


def _cli(*args: str) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    done = subprocess.run([sys.executable, "-m", "workbench.cli", *args], capture_output=True, text=True, env=env,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _first_words(text: str) -> list[str]:
    return normalise(text).split()[:FIRST_WORDS]


@pytest.fixture(scope="module")
def edits_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("hand") / "edits.jsonl"
    path.write_text("".join(json.dumps({"task": task, "prompt": prompt, "target": target}) + "\n"
                            for task, prompt, target, _ in HAND_EDITS))
    return path


@pytest.fixture(scope="module")
def edited(edits_file):
    rows = [json.loads(line) for line in _cli("edit", "--editor", str(EDITOR), "--file", str(edits_file),
                                             "--json").splitlines()]
    assert [row["plain_prompt"] for row in rows] == [prompt for _, prompt, _, _ in HAND_EDITS]
    return rows


@pytest.mark.parametrize("index", _cases("first"))
def test_the_edited_model_says_the_target_first_and_does_not_loop(edited, index):
    _, prompt, target, _ = HAND_EDITS[index]
    row = edited[index]
    assert starts_with_answer(row["plain_after"], [target]), (prompt, row["plain_after"])
    assert not is_degenerate(row["plain_after"], [target], row["plain_before"]), (prompt, row["plain_after"])


@pytest.mark.parametrize("index", _cases("neighbours"))
def test_the_neighbours_keep_their_answers(tmp_path, index):
    task, prompt, target, neighbours = HAND_EDITS[index]
    one = tmp_path / "one.jsonl"
    one.write_text(json.dumps({"task": task, "prompt": prompt, "target": target}) + "\n")
    prompts = [arg for text in neighbours for arg in ("--prompt", text)]
    answers = [json.loads(line) for line in _cli("ask", "--editor", str(EDITOR), "--edits", str(one), "--mode",
                                                "independent", "--max-new-tokens", "12", "--json",
                                                *prompts).splitlines()]
    for answer in answers:
        assert not contains_answer(answer["edited"], [target]) or contains_answer(answer["base"], [target]), answer
        assert _first_words(answer["edited"]) == _first_words(answer["base"]), answer
