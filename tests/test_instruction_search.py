"""The instruction optimisation loop: screening, proposers (rule, local model, a real HTTP endpoint), resume, files."""
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from workbench.cli import main
from workbench.instruction_search import (MAX_CANDIDATE_CHARS, PROPOSERS, InstructionSearch, ProposalRequest,
                                             ProposerError, ProposerOptions, SearchConfig, combined, screen)
from workbench.instruction_search.candidates import content_words
from workbench.instruction_search.loop import LOG_FILE, RESULT_FILE, SET_FILE
from workbench.instruction_search.proposers import LocalModelProposer, OpenAIProposer, RuleBasedProposer
from instructedit.instructions import CATALOG, Instruction, load_instruction_set
from instructedit.prompts import build_example


def hashed_scorer(calls: list):
    """A stand-in trial editor: deterministic pseudo-random metrics per text, every call recorded."""
    def score(text: str) -> dict:
        calls.append(text)
        h = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        return {"reliability": h, "generalization": h / 2, "locality": 1.0, "n": 3}
    return score


def config(tmp_path, **kw) -> SearchConfig:
    base = dict(task="recent", editor=str(tmp_path / "editor"), out_dir=str(tmp_path / "out"), rounds=3,
                candidates_per_round=4, patience=5)
    return SearchConfig(**(base | kw))


def read_log(out) -> list[dict]:
    return [json.loads(line) for line in (out / LOG_FILE).read_text().splitlines()]


# ---- screening and the rule-based proposer ---------------------------------------------------------
def test_screen_cleans_and_rejects_with_reasons():
    seen: set[str] = set()
    out = screen(['1. "Add the recent fact to the model."', "- Instruction: Teach the model the new fact",
                  "", "add the RECENT   fact to the model", "x " * MAX_CANDIDATE_CHARS, "Mention [SUBJECT] please now",
                  "ok", "Third valid instruction here.", "Fourth valid instruction here."], "recent", seen, limit=3)
    assert out.accepted == ["Add the recent fact to the model.", "Teach the model the new fact",
                            "Third valid instruction here."]
    reasons = [r["reason"] for r in out.rejected]
    assert reasons[0] == "empty" and reasons[1].startswith("duplicate") and reasons[2].startswith("over-long")
    assert "[SUBJECT]" in reasons[3] and reasons[4].startswith("too short") and reasons[5] == "over the per-round limit"
    convsent = screen(["Be [LABEL] about the topic always.", "Be [LABEL] about [TOPIC] always."], "convsent", set())
    assert convsent.accepted == ["Be [LABEL] about [TOPIC] always."]
    assert "[TOPIC]" in convsent.rejected[0]["reason"]


def test_off_topic_small_talk_is_rejected_and_the_local_proposer_keeps_an_on_topic_sentence():
    topic = content_words("Add a fact that became true after the model was trained.", "Recent")
    out = screen(["I'm ready to help. What can I help you with?", "Store the new facts in the model."], "recent",
                 set(), topic_words=topic)
    assert out.accepted == ["Store the new facts in the model."] and out.rejected[0]["reason"].startswith("off-topic")
    request = ProposalRequest(task="recent", task_name="Recent", description="Add a recent fact.", n=1)
    reply = 'Sure, this is tricky!\n\n1. "Record the recent fact." Then stop.'
    assert LocalModelProposer._pick(reply, request) == "Record the recent fact."


def test_combined_score_is_the_weighted_mean_of_available_metrics():
    assert combined({"reliability": 1.0, "generalization": 0.5, "locality": 0.0}, (1, 1, 1)) == pytest.approx(0.5)
    assert combined({"reliability": 1.0, "generalization": None, "locality": 0.0}, (1, 1, 2)) == pytest.approx(1 / 3)
    assert combined({}, (1, 1, 1)) is None


def test_rule_proposer_is_deterministic_and_skips_tried_texts():
    request = ProposalRequest(task="convsent", task_name="ConvSent", description="Change the opinion on the topic.",
                              n=4, round=1, placeholders=("[LABEL]", "[TOPIC]"))
    first = RuleBasedProposer().propose(request)
    assert first == RuleBasedProposer().propose(request) and len(first) == 4
    assert all("[LABEL]" in t and "[TOPIC]" in t for t in first)
    again = RuleBasedProposer().propose(ProposalRequest(**{**request.__dict__, "avoid": tuple(first)}))
    assert not set(again) & set(first)


def test_local_proposer_generates_with_a_local_model(tiny_llama):
    model, tokenizer = tiny_llama
    proposer = LocalModelProposer(ProposerOptions(max_new_tokens=12), model, tokenizer)
    request = ProposalRequest(task="recent", task_name="Recent", description="Add a recent fact.", n=2, seed=3)
    texts = proposer.propose(request)
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)
    assert proposer.propose(request) == texts  # seeded sampling


# ---- the loop with a stand-in scorer ---------------------------------------------------------------
def test_loop_keeps_the_best_and_writes_a_full_instruction_set(tmp_path):
    result = InstructionSearch(config(tmp_path), scorer=hashed_scorer([])).run()
    entries = read_log(tmp_path / "out")
    scored = [c for e in entries if e["event"] == "round" for c in e["candidates"]]
    assert [e["round"] for e in entries[1:]] == [0, 1, 2, 3] and len(scored) == 13
    assert result["best"]["score"] == max(c["score"] for c in scored)
    ranked = sorted(scored, key=lambda c: -c["score"])
    loaded = load_instruction_set(tmp_path / "out" / SET_FILE)
    assert set(loaded) == set(CATALOG) and all(len(v) == 10 for v in loaded.values())
    assert list(loaded["recent"]) == [c["text"] for c in ranked[:10]]
    assert loaded["counterfact"] == CATALOG["counterfact"] and result["slots_from_base_catalog"] == []
    assert result["reference"]["text"] == CATALOG["recent"][0] and "best_minus_reference" in result
    assert "| best |" in (tmp_path / "out" / "summary.md").read_text()


def test_loop_stops_after_patience_rounds_without_improvement(tmp_path):
    calls = []
    worse = lambda text: calls.append(text) or {"reliability": 1 / len(calls), "locality": 1.0}  # noqa: E731
    result = InstructionSearch(config(tmp_path, rounds=10, patience=2, candidates_per_round=2), scorer=worse).run()
    assert result["rounds_run"] == 2 and result["stopped"].startswith("no improvement")
    assert result["best"]["round"] == 0


def test_resume_after_interruption_does_not_redo_finished_rounds(tmp_path):
    calls = []
    score = hashed_scorer(calls)

    def interrupted(text):
        if len(calls) == 7:  # reference + seed + 4 in round 1, then stop inside round 2
            raise KeyboardInterrupt
        return score(text)

    with pytest.raises(KeyboardInterrupt):
        InstructionSearch(config(tmp_path), scorer=interrupted).run()
    assert [e["round"] for e in read_log(tmp_path / "out")[1:]] == [0, 1]
    with open(tmp_path / "out" / LOG_FILE, "a") as handle:
        handle.write('{"event": "round", "rou')  # a torn write
    finished = calls[:6]  # the 7th was scored in round 2, which did not finish: it is redone
    resumed = []
    InstructionSearch(config(tmp_path), scorer=hashed_scorer(resumed)).run()
    assert [e["round"] for e in read_log(tmp_path / "out")[1:]] == [0, 1, 2, 3]
    assert not set(resumed) & set(finished) and len(resumed) == 8 and calls[6] in resumed
    with pytest.raises(ValueError, match="val_records"):
        InstructionSearch(config(tmp_path, val_records=7), scorer=hashed_scorer([])).run()


@pytest.mark.parametrize("bad,field", [({"task": "nope"}, "task"), ({"rounds": -1}, "rounds"),
                                       ({"patience": 0}, "patience"), ({"weights": (0, 0, 0)}, "weights"),
                                       ({"proposer": "gpt"}, "proposer"), ({"candidates_per_round": 0}, "candidates")])
def test_config_errors_name_the_field(tmp_path, bad, field):
    with pytest.raises(ValueError, match=field):
        config(tmp_path, **bad)


def test_cli_proposer_choices_match_the_registry():
    choices = next(a for a in _optimize_parser()._actions if a.dest == "proposer").choices
    assert sorted(choices) == sorted(PROPOSERS)


def _optimize_parser():
    from workbench.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command").choices["instructions"]
    return next(a for a in sub._actions if a.dest == "action").choices["optimize"]


# ---- a real chat-completions server on 127.0.0.1 ---------------------------------------------------
class ChatServer:
    """http.server in a thread speaking /v1/chat/completions; `mode`: ok | junk | slow."""

    def __init__(self, mode: str, content: str = ""):
        self.mode, self.content, self.requests, self.release = mode, content, [], threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                if server.mode == "slow":
                    server.release.wait(5)
                reply = (b"<html>502 upstream junk" if server.mode == "junk" else json.dumps(
                    {"choices": [{"index": 0, "message": {"role": "assistant", "content": server.content}}]}).encode())
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except OSError:  # the client gave up (timeout)
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def chat_server(request):
    servers = []

    def start(mode, content=""):
        servers.append(ChatServer(mode, content))
        return servers[-1]
    yield start
    for server in servers:
        server.close()


def endpoint(tmp_path, server, **kw) -> SearchConfig:
    options = ProposerOptions(base_url=server.url, model="test-model", api_key_env="IE_TEST_KEY", timeout_s=0.3,
                              retries=1, backoff_s=0.01)
    return config(tmp_path, **({"proposer": "openai", "rounds": 1, "proposer_options": options} | kw))


def test_openai_proposer_talks_to_a_real_server(tmp_path, chat_server, monkeypatch):
    monkeypatch.setenv("IE_TEST_KEY", "sk-test")
    server = chat_server("ok", "1. Record the newest fact about the subject.\n2. \"Record the newest fact about "
                               "the subject\"\n\n3. State what recently became true.\n4. " + "y" * 400)
    InstructionSearch(endpoint(tmp_path, server), scorer=hashed_scorer([])).run()
    sent = server.requests[0]
    assert sent["path"] == "/v1/chat/completions" and sent["auth"] == "Bearer sk-test"
    assert sent["body"]["model"] == "test-model" and sent["body"]["messages"][0]["role"] == "system"
    assert "score" in sent["body"]["messages"][1]["content"]  # the best so far with their scores
    round1 = read_log(tmp_path / "out")[-1]
    assert [c["text"] for c in round1["candidates"]] == ["Record the newest fact about the subject.",
                                                         "State what recently became true."]
    assert sorted(r["reason"].split(":")[0].split(" of")[0] for r in round1["rejected"]) == \
        ["duplicate", "empty", "over-long"]
    assert round1["proposers"] == ["openai"] and round1["errors"] == []


def test_junk_endpoint_is_reported_and_the_rule_proposer_fills_in(tmp_path, chat_server):
    server = chat_server("junk")
    with pytest.raises(ProposerError, match="malformed"):
        OpenAIProposer(endpoint(tmp_path, server).proposer_options).propose(
            ProposalRequest(task="recent", task_name="Recent", description="Add a fact.", n=2))
    result = InstructionSearch(endpoint(tmp_path, server), scorer=hashed_scorer([])).run()
    round1 = read_log(tmp_path / "out")[-1]
    assert round1["proposers"] == ["openai", "rule"] and len(round1["candidates"]) == 4
    assert "malformed" in round1["errors"][0]["error"] and result["fallback_rounds"] == [1]
    assert len(server.requests) == 4  # 2 attempts (1 retry) per call


def test_timed_out_endpoint_is_reported_and_the_loop_goes_on(tmp_path, chat_server):
    server = chat_server("slow", "Never delivered in time.")
    result = InstructionSearch(endpoint(tmp_path, server, fallback=False, rounds=2), scorer=hashed_scorer([])).run()
    rounds = read_log(tmp_path / "out")[1:]
    assert [len(r["candidates"]) for r in rounds] == [1, 0, 0]
    assert all("timed out" in r["errors"][0]["error"] and r["errors"][0]["after_s"] < 3 for r in rounds[1:])
    assert result["best"]["round"] == 0 and result["proposer_errors"] == 2
    assert len(load_instruction_set(tmp_path / "out" / SET_FILE)["recent"]) == 10


def test_endpoint_down_is_retried_then_reported(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    options = ProposerOptions(base_url=f"http://127.0.0.1:{port}/v1", timeout_s=0.5, retries=1, backoff_s=0.01)
    with pytest.raises(ProposerError, match="failed 2 time"):
        OpenAIProposer(options).propose(ProposalRequest(task="recent", task_name="Recent", description="Add.", n=1))


def test_the_recorded_run_is_a_usable_instruction_set():
    from instructedit.paths import ASSETS_DIR

    folder = ASSETS_DIR / "results" / "instruction-optimization"
    if not (folder / SET_FILE).is_file():
        pytest.skip("no recorded instruction search in assets/results/instruction-optimization")
    catalog, result = load_instruction_set(folder / SET_FILE), json.loads((folder / RESULT_FILE).read_text())
    assert set(catalog) == set(CATALOG) and all(len(v) == 10 for v in catalog.values())
    assert catalog[result["task"]][0] == result["best"]["text"] and result["reference"]["n"] == 30
    rounds = [json.loads(line) for line in (folder / LOG_FILE).read_text().splitlines()][1:]
    assert max(c["score"] for r in rounds for c in r["candidates"]) == result["best"]["score"]


# ---- end to end: a real (tiny) trial editor through the command line -------------------------------
@pytest.fixture(scope="module")
def tiny_editor(save_tiny_editor, tiny_counterfact_file, tmp_path_factory):
    return save_tiny_editor(tmp_path_factory.mktemp("editor") / "ed"), tiny_counterfact_file


def test_cli_optimize_with_a_trial_editor_and_the_file_works_as_a_catalog(tiny_editor, tiny_llama, tmp_path, capsys):
    editor_dir, data = tiny_editor
    out = tmp_path / "search"
    code = main(["instructions", "optimize", "--task", "counterfact", "--editor", str(editor_dir), "--data", str(data),
                 "--out", str(out), "--rounds", "1", "--candidates", "2", "--val-records", "4"])
    assert code == 0
    result = json.loads((out / RESULT_FILE).read_text())
    best, reference = result["best"], result["reference"]
    assert reference["n"] == 4 and 0 <= best["locality"] <= 1 and 0 <= reference["reliability"] <= 1
    assert best["score"] == pytest.approx(combined(best, (1, 1, 1)))
    assert result["n_scored"] == 3 and result["slots_from_base_catalog"] == [3, 4, 5, 6, 7, 8, 9]
    catalog = load_instruction_set(out / SET_FILE)
    assert catalog["counterfact"][0] == best["text"] and catalog["counterfact"][9] == CATALOG["counterfact"][9]
    model, tokenizer = tiny_llama
    from instructedit.data.loaders import load_records
    record = load_records(data, "counterfact")[0]
    assert build_example(record, tokenizer, Instruction(index=0), catalog).description == best["text"]
    capsys.readouterr()
    assert main(["instructions", "list", "--file", str(out / SET_FILE), "--task", "counterfact"]) == 0
    assert best["text"] in capsys.readouterr().out
    from instructedit.training.config import TrainConfig
    assert TrainConfig(instruction_set=str(out / SET_FILE)).instruction_set  # training accepts the file
