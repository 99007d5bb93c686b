"""The resume state of a training run: written as a whole folder, its files tied together by a save id and
hashes; weights and state that do not belong together are refused (issue 10, item 13)."""
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from engine.checkpoint import CheckpointError
from engine.models import build_model
from engine.tokenizer import Tokenizer
from engine.training import resume
from engine.training import loop as train_mod
from engine.training import TrainConfig

TOK = Tokenizer.train_char(["0123456789+"])
TINY = {"d_emb": 8, "d_hidden": 16, "d_attn": 8, "max_len": 16}


def run(seed=0, steps=2, model=TINY):
    torch.manual_seed(seed)
    m = build_model("gru-attn", {**model, "vocab_size": TOK.vocab_size})
    opt = torch.optim.AdamW(m.parameters(), lr=1e-2)
    src = torch.randint(4, TOK.vocab_size, (3, 5))
    for _ in range(steps):
        out = m.decode(src, m.start(src)[0]).logits
        out.square().mean().backward()
        opt.step()
        opt.zero_grad()
    return m, opt


def save(folder, seed=0, step=2):
    m, opt = run(seed)
    best = {k: v.clone() + 1 for k, v in m.state_dict().items()}
    resume.save_resume(folder, m, best, opt, {"step": step, "best_metric": 0.5, "bad": 0, "history": [{"step": step}],
                                              "elapsed": 1.0, "config": {}}, tokenizer=TOK)
    return m, opt, best


def fresh():
    m = build_model("gru-attn", {**TINY, "vocab_size": TOK.vocab_size})
    return m, torch.optim.AdamW(m.parameters(), lr=1e-2)


def test_round_trip(tmp_path):
    folder = tmp_path / "resume"
    m, opt, best = save(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["best.safetensors", "model.safetensors", "optim.safetensors",
                                                         "state.json", "tokenizer.json"]
    m2, opt2 = fresh()
    info, best2 = resume.load_resume(folder, m2, opt2)
    assert info["step"] == 2 and info["history"] == [{"step": 2}]
    assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), m2.state_dict().values()))
    assert all(torch.equal(best[k], best2[k]) for k in best)
    assert opt2.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]
    assert resume.resume_tokenizer(folder).vocab_size == TOK.vocab_size
    state = json.loads((folder / "state.json").read_text())
    assert set(state["files"]) == {"model.safetensors", "best.safetensors", "optim.safetensors", "tokenizer.json"}


def test_modes_and_no_leftovers(tmp_path):
    old = os.umask(0o022)
    try:
        save(tmp_path / "resume")
        save(tmp_path / "resume", seed=1, step=4)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "resume").stat().st_mode) == 0o755
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in (tmp_path / "resume").iterdir())
    assert [p.name for p in tmp_path.iterdir()] == ["resume"]


@pytest.mark.parametrize("piece", ["model.safetensors", "best.safetensors", "optim.safetensors"])
def test_weights_from_another_save_are_refused(tmp_path, piece):
    a, b = tmp_path / "a", tmp_path / "b"
    save(a, seed=0, step=2)
    save(b, seed=1, step=4)
    shutil.copy(b / piece, a / piece)      # what a crash between two single-file writes used to leave
    with pytest.raises(CheckpointError, match=f"{piece}: written by another save .* do not belong together"):
        resume.load_resume(a, *fresh())


def test_state_from_another_save_is_refused(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    save(a, seed=0, step=2)
    save(b, seed=1, step=4)
    shutil.copy(b / "state.json", a / "state.json")
    with pytest.raises(CheckpointError, match="written by another save"):
        resume.load_resume(a, *fresh())


def test_changed_files_are_refused(tmp_path):
    folder = tmp_path / "resume"
    save(folder)
    shutil.copy(folder / "best.safetensors", folder / "model.safetensors")   # same save id, other content
    with pytest.raises(CheckpointError, match="model.safetensors: does not match the hash in"):
        resume.load_resume(folder, *fresh())
    save(folder)
    (folder / "tokenizer.json").write_text((folder / "tokenizer.json").read_text().replace("+", "-"))
    with pytest.raises(CheckpointError, match="tokenizer.json: does not match the hash"):
        resume.load_resume(folder, *fresh())


def test_old_or_broken_state_is_refused(tmp_path):
    folder = tmp_path / "resume"
    save(folder)
    state = json.loads((folder / "state.json").read_text())
    legacy = {k: v for k, v in state.items() if k not in ("save_id", "files")}
    (folder / "state.json").write_text(json.dumps(legacy))
    with pytest.raises(CheckpointError, match="without a save id .* start the run again without --resume"):
        resume.load_resume(folder, *fresh())
    (folder / "state.json").write_text(json.dumps({**state, "step": "2"}))
    with pytest.raises(CheckpointError, match="step must be int"):
        resume.load_resume(folder, *fresh())
    (folder / "state.json").write_text("[" * 50_000)
    with pytest.raises(CheckpointError, match="nested more than"):
        resume.load_resume(folder, *fresh())
    (folder / "state.json").unlink()
    with pytest.raises(CheckpointError, match="nothing to resume"):
        resume.load_resume(folder, *fresh())


def test_another_model_config_is_one_line(tmp_path):
    folder = tmp_path / "resume"
    save(folder)
    m = build_model("gru-attn", {**TINY, "d_hidden": 32, "vocab_size": TOK.vocab_size})
    with pytest.raises(CheckpointError) as info:
        resume.load_resume(folder, m, torch.optim.AdamW(m.parameters()))
    msg = str(info.value)
    assert "\n" not in msg and "model.safetensors: does not fit this run's model" in msg


@pytest.mark.parametrize("fail_at", range(5))
def test_a_save_that_fails_midway_keeps_the_previous_state(tmp_path, monkeypatch, fail_at):
    folder = tmp_path / "resume"
    m, _, _ = save(folder, seed=0, step=2)
    calls = {"n": 0}
    real = {"save_model": resume.save_model, "save_file": resume.save_file, "write_new_file": resume.write_new_file}

    def failing(name):
        def f(*a, **k):
            if calls["n"] == fail_at:
                raise OSError(28, "No space left on device (simulated)")
            calls["n"] += 1
            return real[name](*a, **k)
        return f
    for name in real:
        monkeypatch.setattr(resume, name, failing(name))
    with pytest.raises(OSError, match="simulated"):
        save(folder, seed=1, step=4)
    monkeypatch.undo()
    m2, opt2 = fresh()
    info, _ = resume.load_resume(folder, m2, opt2)
    assert info["step"] == 2
    assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), m2.state_dict().values()))
    assert [p.name for p in tmp_path.iterdir()] == ["resume"]


def test_train_resume_refuses_mismatched_state(tmp_path, monkeypatch):
    monkeypatch.setattr(resume, "RUNS_DIR", tmp_path / "runs")
    cfg = dict(name="tiny-add", task="addition", arch="gru-attn", model=TINY, steps=3, batch_size=8, eval_every=3,
               eval_examples=10, data_sizes={"train": 50, "valid": 10, "test": 10}, lr=1e-2, seed=3, threads=1)
    train_mod.train(TrainConfig(**cfg), tmp_path / "ckpt", progress=False)
    run_dir = resume.resume_dir("tiny-add", tmp_path / "ckpt")
    assert (run_dir / "state.json").exists() and (run_dir / "tokenizer.json").exists()
    data = bytearray((run_dir / "model.safetensors").read_bytes())
    data[-1] ^= 0x40                                  # the last weight differs from the one state.json hashed
    (run_dir / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="model.safetensors: does not match the hash .* do not belong together"):
        train_mod.train(TrainConfig(**{**cfg, "steps": 6}), tmp_path / "ckpt", resume=True, progress=False)
    assert not list(run_dir.parent.glob(".*tmp*"))       # nothing left behind


KILL_SCRIPT = r"""
import sys, torch
sys.path.insert(0, sys.argv[2])
import test_resume as t
i = 0
while True:
    t.save(t.Path(sys.argv[1]), seed=i % 2, step=i)
    i += 1
    if i == 2:
        print("ready", flush=True)
"""


def test_a_save_killed_with_sigkill_leaves_a_consistent_state(tmp_path):
    folder = tmp_path / "resume"
    script = tmp_path / "saver.py"
    script.write_text(KILL_SCRIPT)
    here = Path(__file__).resolve().parent
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(here.parent)}
    rng = random.Random(1)
    for _ in range(2):
        p = subprocess.Popen([sys.executable, str(script), str(folder), str(here)], stdout=subprocess.PIPE, env=env)
        assert p.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.0, 0.2))
        p.send_signal(signal.SIGKILL)
        p.wait()
        info, _ = resume.load_resume(folder, *fresh())       # ids and hashes agree: one save's files
        assert info["step"] >= 1
    save(folder)
    assert [p.name for p in tmp_path.iterdir() if p.name != "saver.py"] == ["resume"]
