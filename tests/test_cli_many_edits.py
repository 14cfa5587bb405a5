"""Many edits in one model load: `edit --file` (independent, --batch, --sequential; tables or JSON lines),
`ask` (edits applied, prompts from --prompt, stdin or a terminal) and `eval` (editors beside the base model)."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from instructedit.models import loading
from test_loaders import VALID
from tiny_editors import tiny_editor
from workbench.cli import main

HAS_SEQUENCE = importlib.util.find_spec("instructedit.editor.sequence") is not None
ROWS = [{"prompt": f"The capital of Fact {i} is", "target": "Rome", "subject": f"Fact {i}",
         "rephrase": f"Fact {i} has its capital in", "locality_prompt": "Tokyo is in", "locality_answer": "Japan"}
        for i in range(5)]
ENV = os.environ | {"HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}


@pytest.fixture()
def loads(monkeypatch):
    """The specs the model loader is called with (it still loads)."""
    calls, real = [], loading.load_model

    def counting(spec, *args, **kwargs):
        calls.append(spec)
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(loading, "load_model", counting)
    return calls


@pytest.fixture(scope="module")
def editor_dir(tiny_llama, tmp_path_factory):
    model, tokenizer = tiny_llama
    path = tmp_path_factory.mktemp("many") / "ed"
    tiny_editor(model, tokenizer, jitter=0.05, alpha=-0.5).save(path)
    return path


@pytest.fixture(scope="module")
def edits_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("edits") / "edits.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    return path


def _edit(capsys, *argv, tokens: int = 4) -> str:
    assert main(["edit", "--max-new-tokens", str(tokens), *map(str, argv)]) == 0
    return capsys.readouterr().out


def test_five_edits_from_a_file_load_the_model_once_and_print_a_table_each(editor_dir, edits_file, loads, capsys):
    out = _edit(capsys, "--editor", editor_dir, "--file", edits_file)
    assert loads == ["tiny-llama"]
    assert [line.split(" · ")[0] for line in out.splitlines() if line.startswith("── edit")] == [
        f"── edit {i}/5" for i in range(1, 6)]
    for probe in ("edit prompt", "paraphrase", "locality"):
        assert out.count(f"  {probe} ") == 5
    assert "subject: Fact 3" in out and out.count("plain prompt, before:") == out.count("plain prompt, after:") == 5
    assert out.count("with the instruction") == 5  # an instruct editor: the wrapped prompt's continuation too
    assert " → " in out and "%" in out


@pytest.mark.parametrize("mode", ["independent", "batch", "sequential"])
def test_each_mode_gives_one_json_object_per_record(editor_dir, edits_file, loads, capsys, mode):
    if mode == "sequential" and not HAS_SEQUENCE:
        pytest.skip("instructedit/editor/sequence.py (EditSequence) is not there yet")
    flags = {"independent": [], "batch": ["--batch"], "sequential": ["--sequential"]}[mode]
    rows = [json.loads(line) for line in _edit(capsys, "--editor", editor_dir, "--file", edits_file, "--json",
                                                    *flags).splitlines()]
    assert len(rows) == 5 and loads == ["tiny-llama"]
    for i, row in enumerate(rows):
        assert row["mode"] == mode and row["subject"] == f"Fact {i}" and row["plain_prompt"] == ROWS[i]["prompt"]
        assert row["prompt"].startswith("Task: CounterFact\n") and row["prompt"].endswith(ROWS[i]["prompt"])
        assert {"before", "after", "plain_before", "plain_after", "reliability", "locality", "probes"} <= set(row)
        assert [p["kind"] for p in row["probes"]] == ["reliability", "generalization", "locality"]
        assert all(0 <= p["pre_p"] <= 1 and 0 <= p["post_p"] <= 1 for p in row["probes"])
    assert rows[0]["probes"][0]["post_p"] != rows[0]["probes"][0]["pre_p"]


def test_batch_reports_every_record_under_one_merged_edit(editor_dir, edits_file, tiny_llama, capsys):
    from instructedit.editor.contract import editor_example, make_edits
    from instructedit.editor.editor import Editor
    from instructedit.evaluation.metrics import probe_table
    from workbench.cli.edit_files import read_edit_file

    rows = [json.loads(line) for line in _edit(capsys, "--editor", editor_dir, "--file", edits_file, "--json",
                                                    "--batch").splitlines()]
    model, tokenizer = tiny_llama
    editor = Editor.load(editor_dir, model)
    examples = [editor_example(editor, r, tokenizer, "seen") for r in read_edit_file(edits_file)]
    merged = make_edits(model, editor, examples, tokenizer.pad_token_id).merged()
    assert merged.batch_size == 1
    for row, example in zip(rows, examples):
        table = probe_table(model, editor, [example], tokenizer.pad_token_id, merged)
        assert row["p_target"] == pytest.approx(float(table.post["sum_logprob"][0].exp()), rel=1e-5)


def test_csv_and_data_set_files_are_edit_files(editor_dir, tmp_path, loads, capsys):
    csv_file = tmp_path / "edits.csv"
    csv_file.write_text("prompt,target,subject,locality_prompt,locality_answer\n"
                        "The capital of Fact 1 is,Rome,Fact 1,Tokyo is in,Japan\nThe Moon is made of,cheese,,,\n")
    rows = [json.loads(line) for line in _edit(capsys, "--editor", editor_dir, "--file", csv_file, "--json").splitlines()]
    assert [r["target"] for r in rows] == ["Rome", "cheese"] and rows[1]["subject"] == ""
    recent = tmp_path / "recent.json"
    recent.write_text(json.dumps([VALID["knowedit-recent"], VALID["knowedit-recent"], VALID["knowedit-recent"]]))
    out = _edit(capsys, "--editor", editor_dir, "--file", recent, "--limit", "2")
    assert out.count("── edit") == 2 and "Recent · subject: Ingrīda Amantova" in out
    assert loads == ["tiny-llama", "tiny-llama"]  # one load per command


def test_one_edit_keeps_its_json_and_records_the_subject(editor_dir, capsys):
    report = json.loads(_edit(capsys, "--editor", editor_dir, "--prompt", "The capital of France is", "--target",
                              "Rome", "--subject", "France", "--instruction", "none", tokens=20))
    assert report["subject"] == "France" and report["prompt"] == "The capital of France is"
    assert report["plain_before"] == report["before"] and report["plain_after"] == report["after"]


# ---- ask ---------------------------------------------------------------------------------------------
def _ask_argv(editor_dir, edits_file, *extra) -> list[str]:
    return [sys.executable, "-m", "workbench.cli", "ask", "--editor", str(editor_dir), "--edits", str(edits_file),
            "--max-new-tokens", "4", *extra]


@pytest.mark.parametrize("mode", ["batch", "sequential"])
def test_ask_answers_prompts_from_stdin_side_by_side(editor_dir, edits_file, mode):
    if mode == "sequential" and not HAS_SEQUENCE:
        pytest.skip("instructedit/editor/sequence.py (EditSequence) is not there yet")
    out = subprocess.run(_ask_argv(editor_dir, edits_file, "--mode", mode), input="The capital of Fact 2 is\n\n"
                         "Tokyo is in\n", capture_output=True, text=True, timeout=300, env=ENV, check=True)
    assert "> " not in out.stdout  # not a terminal: no prompt shown
    lines = out.stdout.splitlines()
    assert lines.count("The capital of Fact 2 is") == 1 and lines.count("Tokyo is in") == 1
    assert sum(1 for line in lines if line.split() == ["base", "│", "edited"]) == 2
    assert "Loading weights" not in out.stderr and f"applied 5 edit(s) ({mode})" in out.stderr


def test_ask_with_prompt_flags_prints_json(editor_dir, edits_file, loads, capsys):
    code = main(["ask", "--editor", str(editor_dir), "--edits", str(edits_file), "--mode", "batch", "--prompt",
                 "The capital of Fact 0 is", "--prompt", "Tokyo is in", "--json", "--max-new-tokens", "3"])
    assert code == 0 and loads == ["tiny-llama"]
    answers = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [a["prompt"] for a in answers] == ["The capital of Fact 0 is", "Tokyo is in"]
    assert all(isinstance(a["base"], str) and isinstance(a["edited"], str) for a in answers)


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_ask_on_a_terminal_shows_a_prompt(editor_dir, edits_file):
    import pty

    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(_ask_argv(editor_dir, edits_file, "--mode", "batch"), stdin=follower,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, text=True)
        os.write(leader, b"Tokyo is in\n\x04")  # a line, then Ctrl-D (EOF) at the start of the next
        out, err = proc.communicate(timeout=300)
    finally:
        os.close(leader)
        os.close(follower)
    assert proc.returncode == 0, err
    assert "Ctrl-D to quit" in out and out.count("> ") == 2 and "Tokyo is in\n" in out and "edited" in out


# ---- eval --------------------------------------------------------------------------------------------
def test_eval_loads_the_model_once_and_adds_the_base_column(editor_dir, tmp_path, tiny_counterfact_file, tiny_llama,
                                                           loads, capsys):
    other = tmp_path / "other"
    model, tokenizer = tiny_llama
    tiny_editor(model, tokenizer, jitter=0.05, alpha=-0.5, seed=1).save(other)
    code = main(["eval", "--editor", str(editor_dir), "--editor", str(other), "--data", str(tiny_counterfact_file),
                 "--out", str(tmp_path / "res")])
    assert code == 0 and loads == ["tiny-llama"]
    table = capsys.readouterr().out
    assert table.splitlines()[0] == "| task | metric | base | ed | other |"
    result = json.loads((tmp_path / "res.json").read_text())
    assert list(result) == ["base", "ed", "other"] and result["base"]["instruction"] == "none"
    base = result["base"]["summary"]["counterfact"]
    assert base["n"] == 6 and base["locality"]["mean"] == 1.0  # nothing edited: nothing changes
    assert base["reliability"]["mean"] == result["ed"]["summary"]["counterfact"]["pre_reliability"]["mean"]
    assert main(["eval", "--editor", str(editor_dir), "--data", str(tiny_counterfact_file), "--no-base",
                 "--limit", "2"]) == 0
    assert "base" not in capsys.readouterr().out.splitlines()[0]
