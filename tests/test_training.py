import json
import math

import pytest
import torch

from instructedit.training.config import TrainConfig, apply_overrides
from instructedit.training.trainer import Trainer
from toy import toy_records


def _config(tmp_path, **kw) -> TrainConfig:
    base = dict(model="tiny-llama", trunk_store=False, editor=dict(edit_last_k=1, rank=16, mode="single-task", tasks=["counterfact"]),
                steps=300, edits_per_step=8, lr=1e-3, alpha_lr=1e-3, eval_every=300, val_records=40,
                norm_warmup_batches=4, out_dir=str(tmp_path / "run"))
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def trained(tiny_llama, tmp_path_factory):
    model, tokenizer = tiny_llama
    config = _config(tmp_path_factory.mktemp("train"))
    trainer = Trainer(config, model, tokenizer, {"counterfact": toy_records(300)})
    trainer.fill_cache()
    trainer.warm_up_norms()
    before = trainer.validate()
    trainer.train()
    return trainer, before


def test_training_raises_reliability_keeps_locality(trained):
    trainer, before = trained
    after = trainer.best_metrics
    assert before["reliability"] < 0.1
    assert after["reliability"] > 0.8
    assert after["locality"] > 0.8


def test_training_writes_logs_and_checkpoints(trained):
    trainer, _ = trained
    out = trainer.out
    assert (out / "best" / "editor.safetensors").is_file() and (out / "last" / "optimizer.safetensors").is_file()
    lines = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert any("val" in line for line in lines) and all(math.isfinite(l.get("loss", 0)) for l in lines)
    info = json.loads((out / "best" / "editor.json").read_text())
    assert info["model_fingerprint"] and info["train"]["steps"] == 300 and info["metrics"]["reliability"] > 0.8


def test_resume_continues_from_last_checkpoint(tiny_llama, tmp_path):
    model, tokenizer = tiny_llama
    records = {"counterfact": toy_records(120)}
    full = Trainer(_config(tmp_path / "a", steps=20, eval_every=10), model, tokenizer, records)
    full.train()
    interrupted = Trainer(_config(tmp_path / "b", steps=10, eval_every=10), model, tokenizer, records)
    interrupted.train()
    resumed = Trainer(_config(tmp_path / "b", steps=20, eval_every=10), model, tokenizer, records)
    resumed.train()
    assert resumed.step_count == 20
    for (n, a), (_, b) in zip(full.editor.state_dict().items(), resumed.editor.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-5), n


def test_a_crash_between_validations_loses_at_most_save_every_steps(tiny_llama, tmp_path, monkeypatch):
    model, tokenizer = tiny_llama
    records = {"counterfact": toy_records(120)}
    config = dict(steps=20, eval_every=20, save_every=5)
    full = Trainer(_config(tmp_path / "a", **config), model, tokenizer, records)
    full.train()
    crashing = Trainer(_config(tmp_path / "b", **config), model, tokenizer, records)
    step = crashing.step

    def step_then_crash():
        if crashing.step_count == 8:
            raise KeyboardInterrupt  # killed at step 8: the last resume point is step 5
        return step()

    monkeypatch.setattr(crashing, "step", step_then_crash)
    with pytest.raises(KeyboardInterrupt):
        crashing.train()
    resumed = Trainer(_config(tmp_path / "b", **config), model, tokenizer, records)
    assert resumed.resume() and resumed.step_count == 5
    resumed.train()
    assert resumed.step_count == 20
    for (n, a), (_, b) in zip(full.editor.state_dict().items(), resumed.editor.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-5), n


def test_cache_off_gives_the_same_losses(tiny_llama, tmp_path):
    model, tokenizer = tiny_llama
    records = {"counterfact": toy_records(60)}
    results = []
    for cached in (True, False):
        trainer = Trainer(_config(tmp_path / str(cached), trunk_cache=cached), model, tokenizer, records)
        trainer.fill_cache()
        trainer.warm_up_norms()
        results.append([trainer.step()["loss"] for _ in range(3)])
    assert results[0] == pytest.approx(results[1], rel=1e-4)


def test_validation_chooses_checkpoints_on_the_learned_step(tiny_llama, tmp_path, monkeypatch):
    """The trainer's validation scores edits at the learned α (what training optimises), even for an editor
    whose config sets the edit-time step search: the search is never run there."""
    from instructedit.editor import editor as editor_module

    model, tokenizer = tiny_llama
    config = _config(tmp_path, steps=2, eval_every=2, val_records=4)
    config.editor.step_scales = (1.0, 2.0)
    trainer = Trainer(config, model, tokenizer, {"counterfact": toy_records(40)})
    trainer.fill_cache()
    trainer.warm_up_norms()

    def searched(*args, **kwargs):
        raise AssertionError("the step search ran during validation")

    monkeypatch.setattr(editor_module, "search_step", searched)
    metrics = trainer.validate()
    assert 0 <= metrics["reliability"] <= 1
    trainer.editor.eval()
    with pytest.raises(AssertionError, match="step search ran"):  # the same editor searches when evaluated
        trainer.editor.edit(model, _edit_batch(trainer))


def _edit_batch(trainer):
    from instructedit.tokenize import collate

    return collate([ex.edit for ex in trainer.val_ex[:2]], trainer.tokenizer.pad_token_id)


def test_non_finite_step_is_skipped(tiny_llama, tmp_path, monkeypatch):
    model, tokenizer = tiny_llama
    trainer = Trainer(_config(tmp_path), model, tokenizer, {"counterfact": toy_records(60)})
    trainer.warm_up_norms()
    before = {k: v.clone() for k, v in trainer.editor.state_dict().items() if "norms" not in k}
    original = trainer.train_objective
    monkeypatch.setattr(trainer, "train_objective", lambda ex: {**original(ex), "loss": original(ex)["loss"] * float("nan")})
    trainer.step()
    assert trainer.skipped == 1
    after = trainer.editor.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("bad,field", [({"steps": 0}, "steps"), ({"loss_input": "x"}, "loss_input"),
                                       ({"editor": {"mode": "single-task", "tasks": ["counterfact", "recent"]}}, "single-task"),
                                       ({"editor": {"tasks": ["nope"]}}, "nope"), ({"lr": 0}, "lr")])
def test_config_validation_names_the_field(bad, field):
    with pytest.raises(ValueError, match=field):
        TrainConfig.from_dict(bad)


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("steps: 5\neditor:\n  rank: 8\n")
    config = TrainConfig.from_yaml(path, ["editor.rank=32", "lr=3e-4", "editor.tasks=[recent]"])
    assert config.steps == 5 and config.editor.rank == 32 and config.lr == 3e-4 and config.editor.tasks == ("recent",)
    with pytest.raises(ValueError, match="unknown config key"):
        TrainConfig.from_dict(apply_overrides({}, ["stepz=3"]))


def test_trunk_store_is_shared_between_runs(tiny_llama, tmp_path, monkeypatch):
    from instructedit.training.trunk import TrunkCache

    model, tokenizer = tiny_llama
    seqs = [tokenizer("The capital of France is Paris").input_ids, tokenizer("Tokyo is in Japan").input_ids]
    first = TrunkCache(model, 1, tokenizer.pad_token_id, store=tmp_path / "store")
    first.fill(seqs)
    assert len(list((tmp_path / "store").glob("shard-*.safetensors"))) == 1
    second = TrunkCache(model, 1, tokenizer.pad_token_id, store=tmp_path / "store")
    monkeypatch.setattr("instructedit.training.trunk.trunk", lambda *a: pytest.fail("recomputed a stored state"))
    second.fill(seqs)
    state = second.state(seqs)
    assert torch.equal(state.hidden[0, :len(seqs[0])], first.state(seqs).hidden[0, :len(seqs[0])])


def test_accelerate_launch_single_cpu_process(tmp_path):
    """The trainer runs under `accelerate launch` (here: one CPU process)."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    launcher = shutil.which("accelerate") or str(Path(sys.executable).parent / "accelerate")
    config = tmp_path / "c.yaml"
    config.write_text(f"model: tiny-llama\neditor:\n  mode: single-task\n  tasks: [counterfact]\n  edit_last_k: 1\n"
                      f"  rank: 8\nsteps: 3\nedits_per_step: 2\nmax_train_records: 20\nval_records: 3\n"
                      f"eval_every: 3\nnorm_warmup_batches: 1\ntrunk_store: false\nout_dir: {tmp_path / 'run'}\n")
    toy = tmp_path / "toy.json"
    toy.write_text(json.dumps([{"case_id": i, "prompt": f"The capital of Fact {i} is", "target_new": "Rome",
                                "locality_prompt": "Tokyo is in", "locality_ground_truth": "Japan"} for i in range(30)]))
    done = subprocess.run([launcher, "launch", "--cpu", "--num_processes", "1", "--num_machines", "1",
                           "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "workbench.cli", "train",
                           "--config", str(config), "--set", f"train_files={{counterfact: {toy}}}"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "run" / "best" / "editor.safetensors").is_file()
