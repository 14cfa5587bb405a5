"""Every command checks its inputs before it loads a model: a bad file, format, editor folder, number or
instruction is one `ERROR` line and exit code 2, and the model loader is never called."""
from __future__ import annotations

import json
import shutil

import pytest

from instructedit.models import loading
from test_loaders import VALID
from workbench.cli import main


@pytest.fixture()
def no_model_load(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the inputs were checked")

    monkeypatch.setattr(loading, "load_model", refuse)


@pytest.fixture(scope="module")
def editor_dir(save_tiny_editor, tmp_path_factory):
    return save_tiny_editor(tmp_path_factory.mktemp("fail-fast") / "ed")


@pytest.fixture()
def files(tmp_path, editor_dir):
    """Small files of each kind, named by what they hold."""
    def write(name: str, content) -> str:
        path = tmp_path / name
        path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
        return str(path)

    other_model = tmp_path / "ed-gpt2"
    shutil.copytree(editor_dir, other_model)
    info = json.loads((other_model / "editor.json").read_text())
    (other_model / "editor.json").write_text(json.dumps(info | {"model": "tiny-gpt2"}))
    half = tmp_path / "half-editor"
    half.mkdir()
    shutil.copy(editor_dir / "editor.json", half / "editor.json")
    return {
        "editor": str(editor_dir), "other_model": str(other_model), "half": str(half),
        "recent": write("knowedit_recent.json", [VALID["knowedit-recent"]] * 2),
        "counterfact": write("counterfact.json", [VALID["counterfact"]] * 2),
        "mixed": write("mixed.json", [VALID["counterfact"], VALID["knowedit-recent"]]),
        "broken": write("broken.json", "[{"), "object": write("object.json", {"prompt": "x"}),
        "rows": write("edits.json", [{"prompt": "A is in", "target": "B"}, {"prompt": "C is in"}]),
        "two_rows": write("two.jsonl", '{"prompt": "A is in", "target": "B"}\n{"prompt": "C is in", "target": "D"}\n'),
        "bad_csv": write("edits.csv", "prompt,target,colour\nA is in,B,red\n"),
        "bad_set": write("set.json", {"counterfact": ["only one"]}),
        "yaml": write("bad.yaml", "steps: [1\n"), "missing": str(tmp_path / "absent.json"),
        "empty_dir": str(tmp_path),
    }


CASES = {
    "eval --format counterfact on a KnowEdit Recent file": (
        ["eval", "--editor", "{editor}", "--data", "{recent}", "--format", "counterfact"],
        ["knowedit_recent.json", "record 0", "field 'locality'", "'knowedit-recent', not 'counterfact'"]),
    "eval --format recent on a CounterFact file": (
        ["eval", "--editor", "{editor}", "--data", "{counterfact}", "--format", "recent"],
        ["counterfact.json", "record 0", "field 'rephrase_prompt'", "not 'recent'"]),
    "a record of another format further down": (
        ["eval", "--editor", "{editor}", "--data", "{mixed}"], ["mixed.json", "record 1", "not 'counterfact'"]),
    "a missing data file": (["eval", "--editor", "{editor}", "--data", "{missing}"], ["--data", "absent.json",
                                                                                     "does not exist"]),
    "malformed JSON": (["eval", "--editor", "{editor}", "--data", "{broken}"], ["broken.json", "not valid JSON"]),
    "not a list": (["eval", "--editor", "{editor}", "--data", "{object}"], ["object.json", "JSON list"]),
    "a missing editor": (["eval", "--editor", "{missing}", "--data", "{counterfact}"],
                         ["--editor", "absent.json does not exist", "instructedit train"]),
    "a folder that is no editor": (["edit", "--editor", "{half}", "--prompt", "A", "--target", "B"],
                                   ["--editor", "not an editor folder", "editor.safetensors", "instructedit train"]),
    "editors of two base models": (["eval", "--editor", "{editor}", "--editor", "{other_model}", "--data",
                                    "{counterfact}"], ["different base models", "ed-gpt2: tiny-gpt2",
                                                       "ed: tiny-llama"]),
    "--limit 0": (["eval", "--editor", "{editor}", "--data", "{counterfact}", "--limit", "0"], ["--limit must be >= 1"]),
    "--batch-size 0": (["eval", "--editor", "{editor}", "--batch-size", "0", "--data", "{counterfact}"],
                       ["--batch-size must be >= 1"]),
    "--max-new-tokens 0": (["edit", "--editor", "{editor}", "--prompt", "A", "--target", "B", "--max-new-tokens", "0"],
                           ["--max-new-tokens must be between 1 and"]),
    "an instruction index out of range": (["eval", "--editor", "{editor}", "--data", "{counterfact}",
                                           "--instruction", "12"], ["--instruction", "must be 0-8"]),
    "a bad instruction-set file": (["edit", "--editor", "{editor}", "--prompt", "A", "--target", "B",
                                    "--instruction-set", "{bad_set}"], ["--instruction-set", "10 non-empty"]),
    "an edit row without a target": (["edit", "--editor", "{editor}", "--file", "{rows}"],
                                     ["--file", "edits.json", "record 1", "field 'target'"]),
    "an unknown CSV column": (["edit", "--editor", "{editor}", "--file", "{bad_csv}"], ["record 0", "colour"]),
    "--file with --format of another kind": (["edit", "--editor", "{editor}", "--file", "{counterfact}", "--format",
                                              "knowedit-recent"], ["counterfact.json", "not 'knowedit-recent'"]),
    "edit without an edit": (["edit", "--editor", "{editor}"], ["--prompt and --target", "--file"]),
    "a blank target": (["edit", "--editor", "{editor}", "--prompt", "A", "--target", " "],
                       ["--target: must not be empty or blank"]),
    "an edit file of the wrong kind for ask": (["ask", "--editor", "{editor}", "--edits", "{object}"],
                                               ["--edits", "object.json", "JSON list"]),
    "--file and --prompt together": (["edit", "--editor", "{editor}", "--file", "{two_rows}", "--prompt", "A"],
                                     ["--file holds the edits"]),
    "ask --mode independent with two edits": (["ask", "--editor", "{editor}", "--edits", "{two_rows}", "--mode",
                                               "independent", "--prompt", "x"], ["holds 2", "--mode sequential"]),
    "ask with a missing edits file": (["ask", "--editor", "{editor}", "--edits", "{missing}"], ["--edits", "absent"]),
    "train with a missing config": (["train", "--config", "{missing}"], ["--config", "does not exist"]),
    "train with broken YAML": (["train", "--config", "{yaml}"], ["--config", "bad.yaml is not valid YAML"]),
    "instructions list with a missing file": (["instructions", "list", "--file", "{missing}"], ["--file", "absent"]),
    "instructions optimize with a missing editor": (
        ["instructions", "optimize", "--task", "counterfact", "--editor", "{missing}", "--out", "{empty_dir}/o"],
        ["--editor", "does not exist"]),
    "instructions compare on a folder without a search": (["instructions", "compare", "--out", "{empty_dir}"],
                                                          ["--out", "result.json"]),
    "analyze with an unknown data set": (["analyze", "--editors", "{editor}", "--tasks", "cf", "--out", "{empty_dir}/a"],
                                         ["--tasks: unknown cf"]),
    "figures from a missing results folder": (["figures", "--results", "{missing}"], ["--results", "does not exist"]),
    "reproduce with an unknown editor": (["reproduce", "--editors", "nope"], ["--editors: unknown nope"]),
    "reproduce with a shard that is not I/N": (["reproduce", "--shard", "2"], ["--shard 2", "not I/N"]),
    "reproduce with a shard beyond N": (["reproduce", "--shard", "3/2"], ["--shard 3/2", "from 1 to 2"]),
    "sweep with an unknown variant": (["sweep", "--variants", "nope"], ["--variants: unknown nope"]),
    "objective sweep with a rank variant": (["sweep", "--objective", "--variants", "rank-32"],
                                            ["--variants: unknown rank-32"]),
    "step sweep with an objective variant": (["sweep", "--step", "--variants", "cont"], ["--variants: unknown cont"]),
    "both sweeps at once": (["sweep", "--step", "--objective"], ["--objective and --step", "give one"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_fails_before_the_model_loads(case, files, no_model_load, caplog):
    argv, expected = CASES[case]
    assert main([part.format(**files) for part in argv]) == 2
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "\n" not in errors[0].getMessage(), caplog.text
    for text in expected:
        assert text in errors[0].getMessage(), (text, errors[0].getMessage())


def test_the_error_is_one_line_on_stderr_without_a_traceback(files):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "workbench.cli", "eval", "--editor", files["editor"], "--data",
                          files["recent"], "--format", "counterfact"], capture_output=True, text=True, timeout=120,
                         check=False)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith("ERROR instructedit: --data: file ") and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_quiet_transformers_silences_and_restores():
    from transformers.utils import logging as hf_logging

    before = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    with loading.quiet_transformers():
        assert hf_logging.get_verbosity() == hf_logging.ERROR and not hf_logging.is_progress_bar_enabled()
    assert (hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()) == before
    with loading.quiet_transformers(enabled=False):
        assert (hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()) == before
