"""The demo app end to end: cold start, one edit's API round trip, throughput under concurrent clients,
against the library's own time for the same edits. Prints one JSON object.

`python app.py` is started as a subprocess (the model is already cached: it is loaded here first). The
shipped editor is used when assets/editors has one for this model, else an untrained editor (default
architecture, normalisation warmed up) saved to a temp folder: its outputs are meaningless, its cost is real.

Round trip = one `/edit` call through gradio_client (three columns: before, seen, unseen instruction).
Library time for the same input = `edit_and_report` for the seen and the unseen instruction (the library's
one-call edit + score + generate, twice); app computation = `workbench.ui.compare.compare` (the same two
columns; the continuations ride along in the step search's check generation, `step_search.RideAlong`, and
only those of an edit that settles on another step are generated after it). Generation floor = one batched
greedy continuation of the two columns' wrapped prompts without an edit: the step search must continue each
edit's request once, so a round trip holds one such generation at least (`ratio_api_to_generation_floor`).
All measured in this process, interleaved with the API calls. Goals: round trip <= 1.5x the library time, and <= 2.0 s median on the 2-core machine, quiet.

Run: python bench/bench_app.py [--runs 5] [--model smollm2-135m] [--clients 1,4,8] [--max-new-tokens 20]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from instructedit.api import edit_and_report
from instructedit.data.records import EditRecord, Probe
from instructedit.editor.editor import Editor, EditorConfig
from instructedit.models import fingerprint, load_model
from instructedit.models.families import num_blocks
from instructedit.tokenize import encode_batch
from workbench.ui.state import Settings

log = logging.getLogger("bench_app")
ROOT = Path(__file__).resolve().parents[1]
PROMPT, TARGET = "The Eiffel Tower is located in the city of", "Rome"
PARAPHRASE, LOCALITY = "Where is the Eiffel Tower? It is in", ("The capital of Japan is", "Tokyo")
SUBJECTS = ["Eiffel Tower", "Colosseum", "Big Ben", "Sagrada Familia", "Brandenburg Gate", "Golden Gate Bridge",
            "Sydney Opera House", "Tower Bridge"]


def editors_dir(model, tokenizer) -> tuple[Path, str, str]:
    """(folder, editor name, what it is): a shipped editor for this model, else a warmed untrained one."""
    shipped = Settings.from_env().editors_dir
    for folder in sorted(shipped.iterdir()) if shipped.is_dir() else []:
        info_path = folder / "editor.json"
        if info_path.is_file() and json.loads(info_path.read_text())["model_fingerprint"] == fingerprint(model):
            return shipped, folder.name, "shipped"
    editor = Editor(model, EditorConfig(edit_last_k=min(3, num_blocks(model)))).eval()
    editor.warm_up(model, [encode_batch(tokenizer, [PROMPT, LOCALITY[0]], [TARGET, LOCALITY[1]])])
    editor.model_fingerprint = fingerprint(model)
    folder = Path(tempfile.mkdtemp(prefix="bench-app-editors-"))
    editor.save(folder / "instructedit")
    return folder, "instructedit", "untrained (normalisation warmed up), default architecture"


def start_app(env: dict, port: int) -> tuple[subprocess.Popen, float]:
    """`python app.py`; seconds from spawn to the first HTTP 200 on /."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    while time.perf_counter() - start < 300:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return proc, time.perf_counter() - start
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise TimeoutError("app.py did not answer within 300 s")


def edit_args(editor: str, tokens: int, subject: str = "Eiffel Tower") -> dict:
    prompt = PROMPT.replace("Eiffel Tower", subject)
    return dict(prompt=prompt, target=TARGET, subject=subject, paraphrases=PARAPHRASE.replace("Eiffel Tower", subject),
                locality=f"{LOCALITY[0]} => {LOCALITY[1]}", task="counterfact", topic="", label="positive",
                seen_index=0, third="unseen", custom_instruction="", editor=editor, second_editor=editor,
                max_new_tokens=tokens)


# the record the API call's form describes (edit_args with the default subject)
RECORD = EditRecord(task="counterfact", prompt=PROMPT, target=TARGET, subject="Eiffel Tower", rephrases=(PARAPHRASE,),
                    locality=(Probe(*LOCALITY),))


def library_edit(model, tokenizer, editor, tokens: int) -> None:
    for instruction in ("seen", "unseen"):
        edit_and_report(model, tokenizer, editor, RECORD, instruction, max_new_tokens=tokens)


def app_compare(model, tokenizer, editor, tokens: int) -> None:
    """The Edit tab's own computation for the same input (`workbench.ui.compare.compare`, both columns'
    continuations in one batch), in this process: the round trip minus Gradio, HTTP and formatting."""
    from instructedit.instructions import Instruction
    from workbench.ui.compare import ColumnSpec, compare

    specs = [ColumnSpec(i, "instructedit", editor, Instruction.parse(i)) for i in ("seen", "unseen")]
    compare(model, tokenizer, RECORD, specs, tokens)


def generation_floor(model, tokenizer, editor, tokens: int) -> None:
    """The least a round trip with the step search must wait for, once: one batched greedy continuation of
    the two columns' wrapped prompts, `tokens` tokens, no edit. The search continues each edit's request like
    this before the columns exist, then the columns are continued: two such generations in sequence."""
    from instructedit.editor.batched_generation import continue_ids
    from instructedit.editor.contract import editor_example

    prompts = [editor_example(editor, RECORD, tokenizer, i).edit[0] for i in ("seen", "unseen")]
    continue_ids(model, prompts, tokenizer.pad_token_id, tokens)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def throughput(url: str, editor: str, tokens: int, clients: int) -> dict:
    """`clients` sessions each making one different edit at once: edits per second and the slowest wait."""
    from gradio_client import Client

    sessions = [Client(url, verbose=False) for _ in range(clients)]
    jobs = [(s, edit_args(editor, tokens, SUBJECTS[i % len(SUBJECTS)])) for i, s in enumerate(sessions)]
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = list(pool.map(lambda job: timed(lambda: job[0].predict(**job[1], api_name="/edit")), jobs))
    wall = time.perf_counter() - start
    return {"clients": clients, "edits": clients, "wall_s": round(wall, 2), "edits_per_s": round(clients / wall, 3),
            "latency_median_s": round(statistics.median(latencies), 2), "latency_max_s": round(max(latencies), 2)}


def measure(args, url: str, name: str, model, tokenizer, editor) -> dict:
    from gradio_client import Client

    client = Client(url, verbose=False)
    first = timed(lambda: client.predict(**edit_args(name, args.max_new_tokens), api_name="/edit"))
    library_edit(model, tokenizer, editor, args.max_new_tokens)  # warm-up
    app_compare(model, tokenizer, editor, args.max_new_tokens)
    api, lib, own, floor = [], [], [], []
    for _ in range(args.runs):  # interleaved, so all four see the same machine load
        api.append(timed(lambda: client.predict(**edit_args(name, args.max_new_tokens), api_name="/edit")))
        lib.append(timed(lambda: library_edit(model, tokenizer, editor, args.max_new_tokens)))
        own.append(timed(lambda: app_compare(model, tokenizer, editor, args.max_new_tokens)))
        floor.append(timed(lambda: generation_floor(model, tokenizer, editor, args.max_new_tokens)))
    return {"first_edit_s": round(first, 2), "api_round_trip_median_s": round(statistics.median(api), 3),
            "api_round_trip_p95_s": round(p95(api), 3), "library_median_s": round(statistics.median(lib), 3),
            "ratio_api_to_library": round(statistics.median(api) / statistics.median(lib), 3),
            "app_compare_median_s": round(statistics.median(own), 3),
            "ratio_api_to_app_compare": round(statistics.median(api) / statistics.median(own), 3),
            "generation_floor_s": round(statistics.median(floor), 3),
            "ratio_api_to_generation_floor": round(statistics.median(api) / statistics.median(floor), 3),
            "throughput": [throughput(url, name, args.max_new_tokens, n) for n in args.clients]}


@contextlib.contextmanager
def stdout_to_stderr():
    """Keep stdout for the JSON: libraries print there (the tiny tokenizer's trainer even from Rust)."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def run(args) -> dict:
    model, tokenizer = load_model(args.model)  # also makes sure the converted model is cached
    folder, name, kind = editors_dir(model, tokenizer)
    editor = Editor.load(folder / name, model)
    env = {**os.environ, "INSTRUCTEDIT_MODEL": args.model, "INSTRUCTEDIT_EDITORS_DIR": str(folder),
           "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(args.port), "GRADIO_ANALYTICS_ENABLED": "False"}
    proc, cold = start_app(env, args.port)
    try:
        result = measure(args, f"http://127.0.0.1:{args.port}/", name, model, tokenizer, editor)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if kind != "shipped":
            shutil.rmtree(folder, ignore_errors=True)
    return {"bench": "app", "model": args.model, "editor": kind, "max_new_tokens": args.max_new_tokens,
            "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(), "runs": args.runs,
            "cold_start_to_http_200_s": round(cold, 2), **result, "goal_ratio": 1.5}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--clients", default="1,4,8", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--max-new-tokens", type=int, default=20)
    parser.add_argument("--port", type=int, default=7871)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with stdout_to_stderr():
        result = run(args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
