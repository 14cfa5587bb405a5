"""Data-parallel training: two CPU processes (torchrun, gloo; Accelerate's `prepare` wraps the objective in
DDP) follow the one-process trajectory for the same global batch, and a stopped two-process run resumes to
the same end. Tolerance: losses within 1e-5 relative, editor tensors within 1e-4 relative + 5e-5 absolute (an lr of 1e-2 moves them ~6e-2 in 6 steps)
(the processes sum gradients and normaliser statistics in another order than one process does)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

STEPS, EDITS_PER_STEP = 6, 4
ENV = os.environ | {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("dist") / "toy.json"
    path.write_text(json.dumps([{"case_id": i, "prompt": f"The capital of Fact {i} is", "target_new": "Rome",
                                 "locality_prompt": "Tokyo is in", "locality_ground_truth": "Japan"}
                                for i in range(40)]))
    return path


def _train(out: Path, toy: Path, processes: int, steps: int = STEPS, extra: str = "") -> None:
    config = out.parent / f"{out.name}.yaml"
    config.write_text(f"model: tiny-llama\neditor:\n  mode: single-task\n  tasks: [counterfact]\n  edit_last_k: 1\n"
                      f"  rank: 8\nsteps: {steps}\nedits_per_step: {EDITS_PER_STEP}\nlr: 1.0e-2\nalpha_lr: 1.0e-2\n"
                      f"max_train_records: 30\nval_records: 3\nlog_every: 1\neval_every: 3\nnorm_warmup_batches: 2\n"
                      f"trunk_store: false\nout_dir: {out}\n{extra}")
    cli = ["-m", "workbench.cli", "train", "--config", str(config), "--set", f"train_files={{counterfact: {toy}}}"]
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
    done = subprocess.run(launch + cli if processes > 1 else [sys.executable] + cli, capture_output=True, text=True,
                          env=ENV, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    if processes > 1:
        assert f"data-parallel: {processes} processes (DistributedDataParallel)" in done.stderr


def _losses(out: Path) -> list[float]:
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    by_step = {row["step"]: row["loss"] for row in rows if "loss" in row}
    return [by_step[s] for s in sorted(by_step)]


def _assert_same_editor(a: Path, b: Path, rtol: float = 1e-4, atol: float = 5e-5) -> None:
    first, second = load_file(str(a / "last" / "editor.safetensors")), load_file(str(b / "last" / "editor.safetensors"))
    assert first.keys() == second.keys()
    for name in first:
        torch.testing.assert_close(second[name], first[name], rtol=rtol, atol=atol, msg=name)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory, toy) -> Path:
    out = tmp_path_factory.mktemp("one") / "run"
    _train(out, toy, 1)
    return out


def test_two_processes_follow_the_one_process_trajectory(one_process, toy, tmp_path):
    two = tmp_path / "two"
    _train(two, toy, 2)
    single, double = _losses(one_process), _losses(two)
    assert len(single) == STEPS and single[0] != pytest.approx(single[-1], rel=1e-3)  # it trains
    assert double == pytest.approx(single, rel=1e-5)
    _assert_same_editor(one_process, two)


def test_a_stopped_two_process_run_resumes_to_the_same_end(one_process, toy, tmp_path):
    two = tmp_path / "resumed"
    _train(two, toy, 2, steps=STEPS // 2)  # stops with its resume point at step 3
    _train(two, toy, 2)
    assert _losses(two) == pytest.approx(_losses(one_process), rel=1e-5)
    _assert_same_editor(one_process, two)


def test_two_processes_train_on_chains_of_edits_as_one_does(toy, tmp_path):
    chains = "sequence_length: 3\nc_retain: 0.5\nsave_every: 3\n"  # each process holds its rows' chains
    one, two = tmp_path / "one-chains", tmp_path / "two-chains"
    _train(one, toy, 1, extra=chains)
    _train(two, toy, 2, extra=chains)
    rows = [json.loads(line) for line in (one / "log.jsonl").read_text().splitlines()]
    assert any(row.get("retain_nll", 0) > 0 for row in rows)  # the retention term is on
    assert _losses(two) == pytest.approx(_losses(one), rel=1e-5)
    # a chain carries each step's float differences (another summation order) into the next edits' gradients: the
    # tensors agree to 1e-3 relative + 5e-4 absolute here (measured: 1.7e-4 at most), the losses to 1e-5
    _assert_same_editor(one, two, rtol=1e-3, atol=5e-4)


def test_a_batch_that_does_not_split_evenly_is_refused(toy, tmp_path):
    config = tmp_path / "odd.yaml"
    config.write_text(f"model: tiny-llama\neditor:\n  mode: single-task\n  tasks: [counterfact]\n  edit_last_k: 1\n"
                      f"  rank: 8\nsteps: 2\nedits_per_step: 3\nmax_train_records: 30\nval_records: 3\n"
                      f"trunk_store: false\nout_dir: {tmp_path / 'odd'}\n")
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "workbench.cli", "train", "--config", str(config), "--set",
                           f"train_files={{counterfact: {toy}}}"], capture_output=True, text=True, env=ENV, timeout=600)
    assert done.returncode != 0
    assert "edits_per_step (3) must be a multiple of the number of processes (2)" in done.stderr
