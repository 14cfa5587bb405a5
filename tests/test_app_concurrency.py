"""Eight clients editing at once each get exactly their solo result, and the base weights stay bit-identical."""
from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor

import torch

from workbench.ui.handlers import EDIT_OUTPUTS, EditRequest

SUMMARY, CHART = EDIT_OUTPUTS.index("summary"), EDIT_OUTPUTS.index("chart")


N_CLIENTS = 8
SUBJECTS = ["Eiffel Tower", "Colosseum", "Big Ben", "Tokyo Tower", "Brandenburg Gate", "Hamlet", "Danielle", "Tadej"]
WORDS = ["Rome", "Paris", "Berlin", "London", "Tokyo", "Italy", "Japan", "England"]
THIRDS = [{"third": "unseen"}, {"third": "editor"}, {"third": "custom", "custom_instruction": "Move the landmark."}]


def requests() -> list[EditRequest]:
    """Eight different edits: subjects, targets, editors, instructions and third-column modes all vary."""
    out = []
    for i, (subject, word) in enumerate(zip(SUBJECTS, WORDS)):
        out.append(EditRequest(
            prompt=f"The {subject} is in", target=word, subject=subject, paraphrases=f"Where is the {subject}? In",
            locality=f"The capital of {WORDS[(i + 3) % 8]} is => {WORDS[(i + 5) % 8]}", seen_index=i % 9,
            editor="instructedit" if i % 2 == 0 else "mend-multitask", second_editor="instructedit",
            max_new_tokens=8, **THIRDS[i % 3]))
    return out


def _weights(model) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def _unchanged(model, before: dict[str, torch.Tensor]) -> bool:
    after = model.state_dict()
    return after.keys() == before.keys() and all(torch.equal(before[n], after[n]) for n in before)


def _all_at_once(fn, items):
    barrier = threading.Barrier(len(items))

    def run(item):
        barrier.wait()  # start every request together
        return fn(item)

    with ThreadPoolExecutor(len(items)) as pool:
        return list(pool.map(run, items))


def test_concurrent_handlers_equal_solo_runs(handlers, app_state):
    model, _ = app_state.model()
    before = _weights(model)
    edits = requests()
    solo = [handlers.run(r)[SUMMARY] for r in edits]
    assert len({s["columns"][0]["continuation"] + str(s["columns"][0]["p_after"]) for s in solo}) == N_CLIENTS
    together = _all_at_once(lambda r: handlers.run(r)[SUMMARY], edits)
    assert together == solo
    assert _unchanged(model, before)


def test_concurrent_api_clients_equal_solo_runs(served_app):
    from gradio_client import Client

    url, demo = served_app
    model, _ = demo.instructedit_state.model()
    before = _weights(model)
    clients = [Client(url, verbose=False) for _ in range(N_CLIENTS)]
    edits = [dataclasses.astuple(r) for r in requests()]

    def call(pair):
        client, args = pair
        return client.predict(*args, api_name="/edit")

    solo = [call(pair) for pair in zip(clients, edits)]
    together = _all_at_once(call, list(zip(clients, edits)))
    for alone, crowd in zip(solo, together):
        assert crowd[SUMMARY] == alone[SUMMARY]  # every number and continuation
        assert crowd[:CHART] == alone[:CHART] and crowd[CHART]["plot"] == alone[CHART]["plot"]
    assert _unchanged(model, before)
