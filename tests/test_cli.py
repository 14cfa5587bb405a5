import argparse
import json
import subprocess
import sys

import pytest

from workbench.cli import build_parser, main


@pytest.fixture()
def editor_dir(save_tiny_editor, tmp_path):
    return save_tiny_editor(tmp_path / "ed")


def test_help_lists_the_commands():
    out = subprocess.run([sys.executable, "-m", "workbench.cli", "--help"], capture_output=True, text=True, check=True)
    for command in ("train", "eval", "edit", "ask", "analyze", "figures", "reproduce", "instructions"):
        assert command in out.stdout


def test_every_flag_of_every_command_has_a_help_text():
    def undocumented(parser, path):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from undocumented(sub, [*path, name])
            elif action.option_strings and not action.help:
                yield " ".join(path), action.option_strings[-1]

    assert list(undocumented(build_parser(), [])) == []


def test_edit_prints_before_after_and_metrics(editor_dir, capsys):
    code = main(["edit", "--editor", str(editor_dir), "--prompt", "The capital of France is", "--target", "Rome",
                 "--rephrase", "France's capital is", "--locality", "Tokyo is in", "Japan", "--instruction", "unseen"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert {"before", "after", "reliability", "generalization", "locality", "p_target"} <= set(report)
    assert report["prompt"].startswith("Task: CounterFact\nDescription: ")


def test_eval_writes_json_and_markdown(editor_dir, tmp_path, capsys):
    data = tmp_path / "cf.json"
    data.write_text(json.dumps([{"case_id": i, "prompt": f"The capital of Fact {i} is", "target_new": "Rome",
                                 "rephrase_prompt": f"Fact {i} is in", "locality_prompt": "Tokyo is in",
                                 "locality_ground_truth": "Japan"} for i in range(5)]))
    code = main(["eval", "--editor", str(editor_dir), "--editor", str(editor_dir), "--data", str(data),
                 "--out", str(tmp_path / "res")])
    assert code == 0
    result = json.loads((tmp_path / "res.json").read_text())
    summary = result["ed"]["summary"]["counterfact"]
    assert summary["n"] == 5 and 0 <= summary["reliability"]["mean"] <= 1 and summary["locality"]["ci_low"] <= 1
    assert "| counterfact | reliability |" in (tmp_path / "res.md").read_text()


def test_train_command_runs_a_config(tmp_path, shared_data):
    config = tmp_path / "c.yaml"
    config.write_text(f"model: tiny-llama\neditor:\n  mode: single-task\n  tasks: [zsre]\n  edit_last_k: 1\n  rank: 8\n"
                      f"steps: 3\nedits_per_step: 2\nmax_train_records: 20\nval_records: 3\neval_every: 3\n"
                      f"norm_warmup_batches: 1\ntrunk_store: false\nout_dir: {tmp_path / 'run'}\n")
    assert main(["train", "--config", str(config), "--set", "lr=2e-4"]) == 0
    info = json.loads((tmp_path / "run" / "best" / "editor.json").read_text())
    assert info["train"]["lr"] == 2e-4 and info["editor"]["tasks"] == ["zsre"]


def test_bad_input_is_a_clear_error_not_a_traceback(tmp_path, capsys, caplog):
    config = tmp_path / "c.yaml"
    config.write_text("steps: 0\n")
    assert main(["train", "--config", str(config)]) == 2
    assert "steps must be >= 1" in caplog.text
