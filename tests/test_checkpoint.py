"""Save -> load gives identical logits; the loader refuses pickles, corrupt and incomplete folders, and
hostile folders (issue 10: wrong types and ranges, huge sizes, devices, FIFOs, deep JSON) with one line
naming the file; a save is atomic as a whole folder (a failure or SIGKILL mid-save leaves a loadable one)."""
import dataclasses
import json
import os
import pickle
import random
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import engine
from engine import checkpoint, files
from engine.checkpoint import CheckpointError, atomic_write_text, load, save_checkpoint
from engine.checkpoint_config import FIELDS, FORMAT, check_model_config, meta_model, parameter_count
from engine.models import build_model
from engine.tokenizer import Tokenizer


@pytest.fixture()
def saved(tmp_path):
    tok = Tokenizer.train_char(["abc 123"])
    torch.manual_seed(0)
    model = build_model("transformer", {"vocab_size": tok.vocab_size, "d_model": 16, "n_heads": 2,
                                        "d_ff": 32, "n_layers": 1, "n_dec_layers": 1}).eval()
    folder = tmp_path / "tiny"
    save_checkpoint(folder, model, tok, {"name": "tiny", "task": "dates", "kind": "seq2seq"},
                    {"metrics": {"test_exact_match": 0.5}, "parameters": model.num_parameters()})
    return folder, model, tok


def test_round_trip_identical_logits(saved):
    folder, model, tok = saved
    b = load(folder)
    src = torch.tensor([tok.encode("abc 12").ids])
    tgt = torch.tensor([[1, 5, 6, 7]])
    a = model.decode(tgt, model.start(src)[0]).logits
    c = b.model.decode(tgt, b.model.start(src)[0]).logits
    assert torch.equal(a, c)
    assert b.card["metrics"]["test_exact_match"] == 0.5
    assert (folder / "README.md").read_text().startswith("# tiny")
    assert not list(folder.glob("*.tmp")), "temporary files left behind"


def test_refuses_pickle(saved):
    folder, model, _ = saved
    with open(folder / "model.safetensors", "wb") as f:
        pickle.dump({"w": 1}, f)
    with pytest.raises(CheckpointError, match="model.safetensors: this is a pickle"):
        load(folder)


def test_refuses_torch_save_only_folder(saved):
    folder, model, _ = saved
    (folder / "model.safetensors").unlink()
    torch.save(model.state_dict(), folder / "model.pt")
    with pytest.raises(CheckpointError, match="model.pt: pickle files are never loaded"):
        load(folder)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_refuses_corrupt_weights(saved, damage):
    folder, _, _ = saved
    p = folder / "model.safetensors"
    data = p.read_bytes()
    p.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"\x10" * 64, "empty": b""}[damage])
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load(folder)


@pytest.mark.parametrize("missing", ["config.json", "tokenizer.json"])
def test_refuses_missing_piece(saved, missing):
    folder, _, _ = saved
    (folder / missing).unlink()
    with pytest.raises(CheckpointError, match=missing):
        load(folder)


def test_refuses_mismatched_config(saved):
    folder, _, _ = saved
    cfg = json.loads((folder / "config.json").read_text())
    cfg["model"]["d_model"] = 32
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="do not fit"):
        load(folder)
    (folder / "config.json").write_text("{broken")
    with pytest.raises(CheckpointError, match="config.json: not valid JSON"):
        load(folder)


def test_unknown_name():
    with pytest.raises(CheckpointError, match="no checkpoint folder or shipped model named 'nope'"):
        engine.load("nope")


# -- hostile checkpoint folders (issue 10, items 3 and 8) -------------------------------------------

GRU = {"vocab_size": None, "d_emb": 8, "d_hidden": 16, "d_attn": 8, "max_len": 16}
GPT = {"vocab_size": None, "d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 32, "max_len": 24}
TF = {"vocab_size": None, "d_model": 16, "n_heads": 2, "d_ff": 32, "n_layers": 1, "n_dec_layers": 1}


def make(folder, arch, model, task="dates", card=True, seed=0):
    tok = Tokenizer.train_char(["abc 123"])
    torch.manual_seed(seed)
    m = build_model(arch, {**model, "vocab_size": tok.vocab_size}).eval()
    kind = "lm" if arch == "gpt" else "seq2seq"
    save_checkpoint(folder, m, tok, {"name": folder.name, "task": task, "kind": kind},
                    {"metrics": {}, "parameters": m.num_parameters()} if card else None)
    return m


@pytest.fixture()
def alarm():
    """Fail (instead of hanging the suite) if a read blocks or runs away."""
    def boom(*_):
        raise TimeoutError("the loader blocked")
    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def refused(folder, *fragments, exc=CheckpointError):
    t = time.time()
    with pytest.raises(exc) as info:
        load(folder)
    msg = str(info.value)
    assert "\n" not in msg and len(msg) < 600, msg
    for f in fragments:
        assert f in msg, (f, msg)
    assert time.time() - t < 10
    return msg


def edit_config(folder, change):
    cfg = json.loads((folder / "config.json").read_text())
    change(cfg)
    (folder / "config.json").write_text(json.dumps(cfg))


def set_model(key, value):
    return lambda cfg: cfg["model"].__setitem__(key, value)


def set_top(key, value):
    return lambda cfg: cfg.__setitem__(key, value)


HOSTILE = [  # arch, change, what the message names
    ("gru-attn", set_model("d_hidden", 10 ** 9), "model.d_hidden must be an integer from 1 to 65536"),
    ("gru-attn", set_model("vocab_size", 10 ** 9), "model.vocab_size must be an integer"),
    ("gru-attn", set_model("d_hidden", "128"), "model.d_hidden must be an integer"),
    ("gru-attn", set_model("d_hidden", "big"), "got a string 'big'"),
    ("gru-attn", set_model("vocab_size", "66"), "model.vocab_size must be an integer"),
    ("gru-attn", set_model("d_emb", True), "model.d_emb must be an integer"),
    ("gru-attn", set_model("d_emb", 8.0), "model.d_emb must be an integer"),
    ("gru-attn", set_model("max_len", 0), "model.max_len must be an integer from 1"),
    ("gru-attn", set_model("max_len", -5), "got -5"),
    ("gru-attn", set_model("attention", "yes"), "model.attention must be true or false"),
    ("gru-attn", set_model("dropout", 1.5), "model.dropout must be a number in [0, 1)"),
    ("gru-attn", set_model("dropout", "0.1"), "model.dropout"),
    ("gru-attn", set_model("colour", 1), "unknown model setting(s) 'colour'"),
    ("gru-attn", lambda c: c["model"].pop("vocab_size"), "model.vocab_size is missing"),
    ("gru-attn", set_top("model", [1, 2]), "model must be an object"),
    ("gpt", set_model("d_model", 10 ** 6), "model.d_model must be an integer from 1 to 65536"),
    ("gpt", set_model("max_len", 10 ** 9), "model.max_len must be an integer from 1 to 65536"),
    ("gpt", set_model("n_layers", 10 ** 6), "model.n_layers must be an integer from 1 to 256"),
    ("gpt", set_model("n_heads", 0), "model.n_heads must be an integer from 1"),
    ("gpt", set_model("n_heads", 3), "model.n_heads (3) must divide model.d_model (16)"),
    ("gpt", lambda c: c["model"].update(d_model=8192, n_heads=8, d_ff=8192), "parameters, over the limit of "
     "100,000,000 (MAX_PARAMETERS in engine/limits.py"),
    ("gpt", set_top("kind", "seq2seq"), "kind 'seq2seq' does not match arch 'gpt' (lm)"),
    ("transformer", set_model("src_positions", "abs"), "model.src_positions must be one of"),
    ("transformer", lambda c: c["model"].update(src_positions="rope", d_model=18, n_heads=2),
     "rotary positions need an even head size"),
    ("transformer", set_model("tie_embeddings", 1), "model.tie_embeddings must be true or false"),
    ("transformer", set_top("arch", ["transformer"]), "arch must be one of 'gru-attn'"),
    ("transformer", set_top("arch", "lstm"), "arch must be one of"),
    ("transformer", set_top("version", True), "unsupported version True"),
    ("transformer", set_top("version", "1"), "unsupported version '1'"),
    ("transformer", set_top("version", 2), "unsupported version 2"),
    ("transformer", set_top("kind", 5), "kind must be \"seq2seq\" or \"lm\", got 5"),
    ("transformer", set_top("kind", "translation"), "kind must be"),
    ("transformer", set_top("task", 5), "task must be a non-empty string"),
    ("transformer", set_top("task", ""), "task must be a non-empty string"),
    ("transformer", set_top("name", None), "name must be a non-empty string"),
    ("transformer", lambda c: c.pop("format"), "not a seqscope checkpoint config"),
    ("transformer", lambda c: c.pop("task"), "missing key 'task'"),
]


@pytest.mark.parametrize("arch, change, expected", HOSTILE, ids=[f"{a}-{e[:40]}" for a, _, e in HOSTILE])
def test_hostile_config_is_one_line_naming_the_file(tmp_path, arch, change, expected):
    folder = tmp_path / "ck"
    make(folder, arch, {"gru-attn": GRU, "gpt": GPT, "transformer": TF}[arch])
    edit_config(folder, change)
    msg = refused(folder, expected)
    assert msg.startswith(str(folder / "config.json") + ": "), msg


def test_config_not_an_object_and_nan(tmp_path):
    folder = tmp_path / "ck"
    make(folder, "gru-attn", GRU)
    (folder / "config.json").write_text("[1, 2]")
    refused(folder, "config.json: not a seqscope checkpoint config")
    (folder / "config.json").write_text(json.dumps({**json.loads("{}"), "format": FORMAT, "version": 1, "name": "x",
                                                    "task": "dates", "kind": "seq2seq", "arch": "gru-attn",
                                                    "model": {"vocab_size": 11, "dropout": "NaN"}}).replace('"NaN"', "NaN"))
    refused(folder, "model.dropout must be a number in [0, 1), got nan")


def test_check_model_config_for_model_json():
    full = check_model_config("gru-attn", {"d_hidden": 32}, vocab_size=20)
    assert full["d_hidden"] == 32 and full["vocab_size"] == 20 and full["d_emb"] == 64
    for model, fragment in [({"d_hidden": "big"}, "model.d_hidden must be an integer"),
                            ([], "model must be an object"), ({"n_heads": 2}, "unknown model setting(s) 'n_heads'")]:
        with pytest.raises(CheckpointError, match=re.escape(fragment)):
            check_model_config("gru-attn", model, vocab_size=20)
    with pytest.raises(CheckpointError, match="model.vocab_size is missing"):
        check_model_config("gpt", {})
    with pytest.raises(CheckpointError, match="--model-json: arch must be one of"):
        check_model_config("lstm", {}, 20, source="--model-json")


def test_every_config_field_has_a_rule():
    from engine.models import ARCHS
    for _, cfg_cls, _ in ARCHS.values():
        for f in dataclasses.fields(cfg_cls):
            assert f.name in FIELDS, f"{cfg_cls.__name__}.{f.name} has no rule in engine/checkpoint_config.py FIELDS"


@pytest.mark.parametrize("arch, model", [
    ("gru-attn", {"vocab_size": 30, "d_emb": 7, "d_hidden": 9, "d_attn": 5}),
    ("gru-noattn", {"vocab_size": 30, "d_emb": 7, "d_hidden": 9}),
    ("gpt", {"vocab_size": 30, "d_model": 12, "n_layers": 3, "n_heads": 3, "d_ff": 20, "max_len": 11}),
    ("transformer", {"vocab_size": 30, "d_model": 12, "n_heads": 2, "n_layers": 2, "n_dec_layers": 1,
                     "d_ff": 20, "tie_embeddings": False, "src_positions": "rope"}),
    ("transformer", {"vocab_size": 30, "d_model": 12, "n_heads": 4, "d_ff": 20, "tie_embeddings": True})])
def test_parameter_count_without_allocating_matches_the_model(arch, model):
    meta = meta_model(arch, check_model_config(arch, model))
    assert all(p.device.type == "meta" for p in meta.parameters())
    assert parameter_count(arch, check_model_config(arch, model)) == build_model(arch, model).num_parameters()


@pytest.mark.parametrize("piece", ["config.json", "tokenizer.json", "card.json", "model.safetensors"])
def test_symlink_to_dev_zero_is_refused(tmp_path, alarm, piece):
    folder = tmp_path / "ck"
    make(folder, "gru-attn", GRU)
    (folder / piece).unlink()
    (folder / piece).symlink_to("/dev/zero")
    refused(folder, f"{folder / piece}: a device, not a regular file")


@pytest.mark.parametrize("piece", ["config.json", "tokenizer.json", "card.json", "model.safetensors"])
def test_fifo_and_directory_are_refused(tmp_path, alarm, piece):
    folder = tmp_path / "ck"
    make(folder, "gru-attn", GRU)
    (folder / piece).unlink()
    os.mkfifo(folder / piece)
    refused(folder, f"{folder / piece}: a FIFO, not a regular file")
    (folder / piece).unlink()
    (folder / piece).mkdir()
    refused(folder, f"{folder / piece}: a directory, not a regular file")


@pytest.mark.parametrize("name", ["a" * 5000, "x/" + "b" * 5000, "c" * 300, "bad\x00name", "", 12, b"nope",
                                  "\ud800", "\ud800/x", "a\udcff"])
def test_hostile_names(name):
    with pytest.raises(CheckpointError) as info:
        engine.load(name)
    msg = str(info.value)
    assert "\n" not in msg and len(msg) < 400, msg


def test_shipped_names_are_plain_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                   # nothing in the working folder to find
    for name in ["..", ".", "../checkpoints/dates-gru-attn", "dates-gru-attn/", ".hidden"]:
        with pytest.raises(CheckpointError):
            engine.load(name)


@pytest.mark.parametrize("piece", ["config.json", "tokenizer.json", "card.json"])
def test_deeply_nested_json(tmp_path, piece):
    folder = tmp_path / "ck"
    make(folder, "gru-attn", GRU)
    (folder / piece).write_text("[" * 100_000 + "]" * 100_000)
    refused(folder, f"{folder / piece}: JSON nested more than 32 levels deep")
    (folder / piece).write_text("[" * 40 + "]" * 40)
    refused(folder, f"{folder / piece}: JSON nested more than 32 levels deep")


def test_json_size_limits(tmp_path, monkeypatch):
    folder = tmp_path / "ck"
    make(folder, "gru-attn", GRU)
    monkeypatch.setattr(checkpoint, "MAX_TOKENIZER_BYTES", 100)
    refused(folder, "tokenizer.json", "over the limit of 100 (MAX_TOKENIZER_BYTES in engine/limits.py)")
    monkeypatch.undo()
    (folder / "card.json").write_text(json.dumps({"x": "y" * (2 << 20)}))
    refused(folder, "card.json", "over the limit of 1,048,576 (MAX_CONFIG_BYTES")
    (folder / "card.json").write_text("[]")
    refused(folder, "card.json: must be a JSON object")


def test_tokenizer_must_match_vocab_and_be_valid(tmp_path):
    folder = tmp_path / "ck"
    make(folder, "gru-attn", GRU)
    edit_config(folder, lambda c: c["model"].__setitem__("vocab_size", 40))
    refused(folder, "tokenizer.json: vocabulary of", "does not match the model's 40")
    folder = tmp_path / "ck2"
    make(folder, "gru-attn", GRU)
    (folder / "tokenizer.json").write_text('{"model": 5}')
    refused(folder, "tokenizer.json: not a valid tokenizer JSON")


def test_shape_mismatch_is_one_line(tmp_path):
    folder = tmp_path / "ck"
    make(folder, "gpt", GPT)
    edit_config(folder, lambda c: c["model"].update(d_model=32, d_ff=64))
    msg = refused(folder, "model.safetensors: weights do not fit the gpt config of config.json",
                  "tensor(s) of another shape (e.g. ")
    assert "[16]" in msg and "[32]" in msg
    edit_config(folder, lambda c: c["model"].update(d_model=16, d_ff=32, n_layers=2))
    refused(folder, "missing (e.g. blocks.1.")
    edit_config(folder, lambda c: c["model"].update(n_layers=1))
    assert load(folder).model.cfg.d_model == 16


def test_gpt_with_tied_weights_round_trips(tmp_path):
    folder = tmp_path / "ck"
    m = make(folder, "gpt", GPT)
    b = load(folder)
    ids = torch.tensor([[1, 5, 6]])
    assert torch.equal(m.decode(ids, m.start()[0]).logits, b.model.decode(ids, b.model.start()[0]).logits)


# -- the checkpoint folder written as a whole (item 13) ------------------------------------------------

def leftovers(folder):
    return sorted(p.name for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}."))


def test_modes_and_no_temporary_files(tmp_path):
    old = os.umask(0o022)
    try:
        folder = tmp_path / "ck"
        make(folder, "gru-attn", GRU)
        make(folder, "gru-attn", GRU)           # over an existing one
    finally:
        os.umask(old)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["README.md", "card.json", "config.json", "model.safetensors", "tokenizer.json"]
    for p in folder.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, p
    assert leftovers(folder) == []


def test_single_file_writes_are_0644(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "t.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "t.json").stat().st_mode) == 0o644


def _failing_after(n, real):
    calls = {"n": 0}

    def wrapper(*a, **k):
        if calls["n"] >= n:
            raise OSError(28, "No space left on device (simulated)")
        calls["n"] += 1
        return real(*a, **k)
    return wrapper


@pytest.mark.parametrize("fail_at", range(5))
def test_a_save_that_fails_midway_keeps_the_old_checkpoint(tmp_path, monkeypatch, fail_at):
    folder = tmp_path / "ck"
    make(folder, "gpt", GPT)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    # files in order: tokenizer.json (write), model.safetensors (save_model), card.json, README.md, config.json
    writes = ["write", "save", "write", "write", "write"]
    n_writes = writes[:fail_at].count("write")
    if writes[fail_at] == "write":
        monkeypatch.setattr(checkpoint, "write_new_file", _failing_after(n_writes, checkpoint.write_new_file))
    else:
        monkeypatch.setattr(checkpoint, "save_model", _failing_after(0, checkpoint.save_model))
    with pytest.raises(OSError, match="simulated"):
        make(folder, "gpt", {**GPT, "d_model": 32, "d_ff": 64}, seed=1)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert load(folder).model.cfg.d_model == 16
    assert leftovers(folder) == []


def test_a_failed_swap_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    folder = tmp_path / "ck"
    make(folder, "gpt", GPT)

    def no_swap(a, b):
        raise OSError(5, "I/O error (simulated)")
    monkeypatch.setattr(files, "_exchange", no_swap)
    with pytest.raises(OSError, match="simulated"):
        make(folder, "gpt", {**GPT, "d_model": 32, "d_ff": 64}, seed=1)
    assert load(folder).model.cfg.d_model == 16 and leftovers(folder) == []


def test_fallback_rename_in_failing_puts_the_old_folder_back(tmp_path, monkeypatch):
    folder = tmp_path / "ck"
    make(folder, "gpt", GPT)
    monkeypatch.setattr(files, "_exchange", lambda a, b: False)
    real, calls = os.rename, []

    def rename(a, b):
        calls.append(b)
        if len(calls) == 2:                       # the new folder in, after the old one went aside
            raise OSError(5, "I/O error (simulated)")
        return real(a, b)
    monkeypatch.setattr(files.os, "rename", rename)
    with pytest.raises(OSError, match="simulated"):
        make(folder, "gpt", {**GPT, "d_model": 32, "d_ff": 64}, seed=1)
    monkeypatch.undo()
    assert len(calls) == 3 and load(folder).model.cfg.d_model == 16 and leftovers(folder) == []


def _dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_without_rename_exchange_and_leftovers_of_a_dead_process(tmp_path, monkeypatch):
    folder = tmp_path / "ck"
    make(folder, "gpt", GPT)
    monkeypatch.setattr(files, "_exchange", lambda a, b: False)     # the rename-aside fallback
    make(folder, "gpt", {**GPT, "d_model": 32, "d_ff": 64}, seed=1)
    assert load(folder).model.cfg.d_model == 32 and leftovers(folder) == []
    # a process killed between "old folder aside" and "new folder in": the next save puts the old back first
    pid = _dead_pid()
    os.rename(folder, tmp_path / f".ck.old-{pid}-aaaa")
    shutil.copytree(tmp_path / f".ck.old-{pid}-aaaa", tmp_path / f".ck.tmp-{pid}-bbbb")
    files.clean_leftovers(folder)
    assert load(folder).model.cfg.d_model == 32 and leftovers(folder) == []
    # a temporary folder left by a killed save is removed by the next save
    (tmp_path / f".ck.tmp-{pid}-cccc").mkdir()
    (tmp_path / f".ck.tmp-{pid}-cccc" / "model.safetensors").write_bytes(b"half")
    make(folder, "gpt", GPT)
    assert leftovers(folder) == [] and load(folder).model.cfg.d_model == 16
    assert ".ck.tmp" not in " ".join(checkpoint.shipped_names())


KILL_SCRIPT = r"""
import sys, torch
from engine.checkpoint import save_checkpoint
from engine.models import build_model
from engine.tokenizer import Tokenizer
folder = sys.argv[1]
tok = Tokenizer.train_char(["abc 123"])
models = [build_model("gpt", {"vocab_size": tok.vocab_size, "d_model": d, "n_heads": 2, "d_ff": 2 * d,
                              "n_layers": n, "max_len": 24}) for d, n in ((16, 1), (64, 3))]
i = 0
while True:
    m = models[i % 2]
    save_checkpoint(folder, m, tok, {"name": "ck", "task": "text", "kind": "lm"},
                    {"metrics": {}, "parameters": m.num_parameters(), "round": i})
    i += 1
    if i == 2:
        print("ready", flush=True)
"""


def test_a_save_killed_with_sigkill_leaves_a_loadable_checkpoint(tmp_path):
    folder = tmp_path / "ck"
    script = tmp_path / "saver.py"
    script.write_text(KILL_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    rng = random.Random(0)
    left_behind = 0
    for _ in range(4):
        p = subprocess.Popen([sys.executable, str(script), str(folder)], stdout=subprocess.PIPE, env=env)
        assert p.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.0, 0.3))
        p.send_signal(signal.SIGKILL)
        p.wait()
        b = load(folder)                              # the old or the new checkpoint, complete
        assert b.model.cfg.d_model in (16, 64)
        assert (b.model.cfg.d_model == 64) == (b.card["round"] % 2 == 1)   # card and weights of one save
        left_behind += len(leftovers(folder))
        assert len(leftovers(folder)) <= 1
    make(folder, "gpt", GPT)                          # the next save cleans what a killed one left
    assert leftovers(folder) == []
    print(f"{left_behind} of 4 kills landed during a save")
