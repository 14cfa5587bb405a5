"""Every named endpoint through gradio_client, against the app launched in this process on 127.0.0.1."""
from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from gradio_client.exceptions import AppError

from analysis.export import find_browser
from app_support import EXAMPLES
from workbench.ui.handlers import EDIT_OUTPUTS

ENDPOINTS = {"/edit", "/instructions", "/editor_info", "/example", "/results", "/direction_options", "/directions",
             "/directions_png", "/status", "/direction_sets", "/keep", "/undo", "/reset", "/ask", "/load_session",
             "/clear", "/share"}
EDIT = dict(prompt="The Eiffel Tower is in", target="Rome", subject="", paraphrases="Where is the Eiffel Tower? In",
            locality="The capital of Japan is => Tokyo", task="counterfact", topic="", label="positive", seen_index=0,
            third="unseen", custom_instruction="", editor="instructedit", second_editor="mend-multitask",
            max_new_tokens=5)
DIRECTIONS = dict(name="synthetic", editors=["instructedit", "mend-multitask"], tasks=["CounterFact", "Recent"],
                  method="pca", layout="separate", kind="u_tilde")


def test_every_endpoint_is_named(client):
    named = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert ENDPOINTS <= named


def test_edit_endpoint(client):
    out = dict(zip(EDIT_OUTPUTS, client.predict(**EDIT, api_name="/edit"), strict=True))
    assert out["before"] and out["seen"] and out["third_out"] and "unseen" in out["third_title"]
    assert "Reliability" in out["seen_card"] and "p(target)" in out["before_card"]
    assert "".join(piece["token"] for piece in out["seen_diff"]) == out["seen"]
    assert out["probes"]["headers"][:4] == ["Probe", "Source", "Prompt", "Answer"]
    summary, chart = out["summary"], out["chart"]
    figure = json.loads(chart["plot"])
    assert chart["type"] == "plotly" and len(figure["data"]) == 3 and len(figure["data"][0]["y"]) == 3
    assert [c["editor"] for c in summary["columns"]] == ["instructedit", "instructedit"]


def call_raw(url: str, api_name: str, data: list) -> str:
    """The REST route with ASCII-escaped JSON, as a browser sends it: lone surrogates survive as \\ud800."""
    body = json.dumps({"data": data}, ensure_ascii=True)
    with httpx.Client(base_url=url, timeout=60) as http:
        event = http.post(f"gradio_api/call/{api_name}", content=body,
                          headers={"content-type": "application/json"}).json()["event_id"]
        return http.get(f"gradio_api/call/{api_name}/{event}").text


def test_edit_endpoint_bad_input_then_good(client, served_app):
    with pytest.raises(AppError, match="Target: contains the invisible format character U\\+200B"):
        client.predict(**{**EDIT, "target": "Ro\u200bme"}, api_name="/edit")
    with pytest.raises(AppError, match="Editor: unknown editor"):
        client.predict(**{**EDIT, "editor": "ghost"}, api_name="/edit")
    with pytest.raises(AppError, match="Task: 'nope' is not one of"):
        client.predict(**{**EDIT, "task": "nope"}, api_name="/edit")
    stream = call_raw(served_app[0], "edit", list({**EDIT, "prompt": "bad \ud800 text"}.values()))
    assert "event: error" in stream and "Prompt: contains an unpaired surrogate U+D800" in stream
    assert "Traceback" not in stream
    assert client.predict(**EDIT, api_name="/edit")[EDIT_OUTPUTS.index("seen")]


def test_instructions_and_editor_info_endpoints(client):
    seen, unseen, topic, label = client.predict("convsent", api_name="/instructions")
    assert seen["value"] == 0 and len(seen["choices"]) == 9 and "Unseen" in unseen and topic["visible"]
    assert "mode `instruct`" in client.predict("instructedit", api_name="/editor_info")


def test_status_and_example_endpoints(client):
    status, editor, second = client.predict(api_name="/status")
    assert "instructedit" in status and editor["value"] == "instructedit" and second["value"] == "mend-multitask"
    values = [v["value"] if isinstance(v, dict) else v for v in client.predict(0, api_name="/example")]
    assert values[0] == EXAMPLES[0]["prompt"] and values[5] == "counterfact"


def test_results_endpoint_files(client):
    status, table3, figure3, table, csv_path, json_path, sequence = client.predict(api_name="/results")
    assert "table3.json" in status and table3["type"] == "plotly" and sequence["type"] == "plotly"
    assert Path(csv_path).read_text().startswith("source,editor,instruction,task,metric,value")
    assert len(json.loads(Path(json_path).read_text())) == len(table["data"])


def test_direction_endpoints(client):
    status, name = client.predict(api_name="/direction_sets")
    assert "synthetic" in status and name["value"] == "synthetic"
    editors, tasks, kind = client.predict("synthetic", api_name="/direction_options")
    assert set(editors["value"]) == {"instructedit", "mend-multitask"} and kind["value"] == "u_tilde"
    plot, scores, html_path = client.predict(**DIRECTIONS, api_name="/directions")
    traces = json.loads(plot["plot"])["data"]
    points = [t for t in traces if "legend_key" not in (t.get("meta") or {})]  # legend keys carry no points
    assert len(points) == 4 and scores["headers"][0] == "editor"  # 2 editors x 2 tasks
    assert Path(html_path).suffix == ".html"
    with pytest.raises(AppError, match="Editors: choose at least one editor"):
        client.predict(**{**DIRECTIONS, "editors": []}, api_name="/directions")


@pytest.mark.skipif(find_browser() is None, reason="no Chromium for kaleido")
def test_directions_png_endpoint(client):
    path = client.predict(**DIRECTIONS, api_name="/directions_png")
    assert Path(path).read_bytes()[:4] == b"\x89PNG"
