"""Hugging Face models behind seqscope's model interface: engine.load("hf:..."), the wrapper
(engine/models/hf.py), the tokenizer roles and display (engine/hf_tokenizer.py), the loader's messages.

The models are tiny and random, built in a tmp folder by tests/hf_tiny.py (no network)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")

import engine  # noqa: E402
from engine.loader import HFLoadError, list_hf_models  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import hf_tiny  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
ARCHS = ["gpt2", "llama", "marian", "bart", "t5"]
TOL = 1e-5


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    out = {a: hf_tiny.MAKERS[a](root) for a in ARCHS}
    out["gpt2-padded"] = hf_tiny.make_gpt2(root, pad_vocab=5, name="gpt2-padded")
    return out


@pytest.fixture(scope="module")
def bundles(folders):
    return {a: engine.load("hf:" + str(f)) for a, f in folders.items()}


def forward(bundle, src, ids):
    """The HF model's own forward logits (no cache) of decoder ids [B, T] (and source [B, S])."""
    hf = bundle.model.hf
    with torch.no_grad():
        if bundle.model.is_encoder_decoder:
            return hf(input_ids=src, decoder_input_ids=ids).logits
        return hf(input_ids=ids).logits


def example(bundle, n_dec=6):
    """(source [1, S] or None, decoder ids [1, T]) of a short text."""
    tok = bundle.tokenizer
    g = torch.Generator().manual_seed(0)
    if bundle.model.is_encoder_decoder:
        src = torch.tensor([tok.encode("the cat sat on the mat").ids])
        ids = [tok.decoder_start_id] + torch.randint(3, tok.vocab_size - 1, (n_dec - 1,), generator=g).tolist()
        return src, torch.tensor([ids])
    return None, torch.tensor([tok.encode("the cat sat on the mat").ids])


def start(model, src, batch_size=1, **kw):
    return model.start(src, **kw) if model.is_encoder_decoder else model.start(batch_size=batch_size, **kw)


# -- loading ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("arch", ARCHS)
def test_load_from_folder(bundles, folders, arch):
    b = bundles[arch]
    seq2seq = arch in ("marian", "bart", "t5")
    assert b.name == "hf:" + str(folders[arch]) and b.path == folders[arch]
    assert b.config["arch"] == f"hf:{arch}" and b.config["task"] == "hf"
    assert b.config["kind"] == ("seq2seq" if seq2seq else "lm") and b.kind == b.config["kind"]
    assert b.config["hf"]["model_type"] == arch and b.config["hf"]["dtype"] == "float32"
    assert b.model.is_encoder_decoder is seq2seq and b.is_encoder_decoder is seq2seq
    assert b.card["parameters"] == sum(p.numel() for p in b.model.hf.parameters())
    assert b.card["model_type"] == arch and b.card["path"] == str(folders[arch])
    d = b.model.describe()
    assert (d["n_layers"], d["n_heads"]) == (hf_tiny.TINY["layers"], hf_tiny.TINY["heads"])
    assert d["n_encoder_layers"] == (hf_tiny.TINY["layers"] if seq2seq else 0)
    assert d["has_cross_attention"] is seq2seq and d["has_self_attention"]
    assert d["max_len"] == (hf_tiny.TINY["positions"] if arch != "t5" else b.model.max_len)
    assert b.model.attn_implementation == "sdpa"
    assert not b.model.hf.training


def test_load_options(folders):
    b = engine.load("hf:" + str(folders["gpt2"]), dtype="bfloat16")
    assert next(b.model.hf.parameters()).dtype == torch.bfloat16
    state, _ = b.model.start(batch_size=1)
    assert b.model.decode(torch.tensor([[5, 6]]), state).logits.dtype == torch.bfloat16
    with pytest.raises(ValueError, match="dtype 'int8'") as e:
        engine.load("hf:" + str(folders["gpt2"]), dtype="int8")
    assert "\n" not in str(e.value)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available") as e:
            engine.load("hf:" + str(folders["gpt2"]), device="cuda")
        assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="device 'tpu'"):
        engine.load("hf:" + str(folders["gpt2"]), device="tpu")


def test_missing_name_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(HFLoadError) as e:
        engine.load("hf:someone/not-here")
    msg = str(e.value)
    assert "\n" not in msg and "hf:someone/not-here" in msg
    assert "hf download someone/not-here" in msg and "download=True" in msg
    with pytest.raises(HFLoadError, match="no such model folder"):
        engine.load("hf:" + str(tmp_path / "nowhere" / "model"))
    with pytest.raises(HFLoadError, match="needs a model folder"):
        engine.load("hf:")


def test_pickle_only_folder_refused(tmp_path, folders):
    folder = tmp_path / "pickled"
    shutil.copytree(folders["gpt2"], folder)
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04not really")
    with pytest.raises(HFLoadError) as e:
        engine.load("hf:" + str(folder))
    assert "\n" not in str(e.value) and "pytorch_model.bin" in str(e.value) and "safetensors" in str(e.value)
    (folder / "config.json").unlink()
    with pytest.raises(HFLoadError, match="no config.json"):
        engine.load("hf:" + str(folder))


def fake_cache(root: Path, repo: str, folder: Path) -> Path:
    """The local Hugging Face cache layout (models--org--name/snapshots/<rev>, refs/main) holding `folder`."""
    repo_dir = root / ("models--" + repo.replace("/", "--"))
    snap = repo_dir / "snapshots" / ("0" * 40)
    shutil.copytree(folder, snap)
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text("0" * 40)
    return snap


def test_name_in_local_cache_and_list(tmp_path, folders, monkeypatch):
    cache = tmp_path / "hub"
    snap = fake_cache(cache, "tiny-org/gpt2-tiny", folders["gpt2"])
    fake_cache(cache, "tiny-org/marian-tiny", folders["marian"])
    pickled = fake_cache(cache, "tiny-org/pickled", folders["llama"])
    (pickled / "model.safetensors").unlink()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    b = engine.load("hf:tiny-org/gpt2-tiny")
    assert b.name == "hf:tiny-org/gpt2-tiny" and b.path == snap and b.kind == "lm"
    rows = engine.list_hf_models()
    assert [(r["name"], r["kind"], r["model_type"]) for r in rows] == [
        ("hf:tiny-org/gpt2-tiny", "lm", "gpt2"), ("hf:tiny-org/marian-tiny", "seq2seq", "marian")]
    assert rows[0]["path"] == str(snap) and rows[0]["size"] > 0
    assert list_hf_models(tmp_path / "no-cache") == []


def test_download_only_when_asked(tmp_path, folders, monkeypatch):
    """download=True fetches a missing name (configs, safetensors, tokenizer files; never pickles)."""
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError
    calls = []

    def fake_snapshot(repo, cache_dir=None, local_files_only=False, allow_patterns=None, **kw):
        calls.append((repo, local_files_only, allow_patterns))
        if local_files_only:
            raise LocalEntryNotFoundError("not cached")
        return str(fake_cache(Path(cache_dir), repo, folders["gpt2"]))

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(HFLoadError, match="not in the local Hugging Face cache"):
        engine.load("hf:tiny-org/fetched")
    assert [c[1] for c in calls] == [True]
    b = engine.load("hf:tiny-org/fetched", download=True)
    assert b.kind == "lm" and [c[1] for c in calls] == [True, True, False]
    patterns = calls[-1][2]
    assert "*.safetensors" in patterns and not any(p.endswith((".bin", ".pt", ".pth", ".ckpt")) for p in patterns)


def test_shipped_models_do_not_import_transformers():
    code = ("import sys, engine\n"
            "rows = engine.list_hf_models()\n"
            "assert 'transformers' not in sys.modules and 'torch' not in sys.modules, 'list_hf_models'\n"
            "names = [m['name'] for m in engine.list_models()]\n"
            "if names:\n"
            "    b = engine.load(names[0])\n"
            "assert 'transformers' not in sys.modules, sorted(m for m in sys.modules if 'transformers' in m)[:3]\n"
            "print('ok', len(names))\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith("ok")


# -- the model interface --------------------------------------------------------------------------------

@pytest.mark.parametrize("arch", ARCHS + ["gpt2-padded"])
def test_incremental_decode_equals_forward(bundles, arch):
    b = bundles[arch]
    model = b.model
    src, ids = example(b)
    ref = forward(b, src, ids)
    with torch.no_grad():
        state, _ = start(model, src)
        outs, t = [], 0
        for n in (3, 1, 1, ids.shape[1] - 5):      # a prefill, then token by token, then the rest at once
            out = model.decode(ids[:, t:t + n], state)
            outs.append(out.logits)
            state, t = out.state, t + n
        whole = model.decode(ids, start(model, src)[0])      # one teacher-forced pass
    inc = torch.cat(outs, 1)
    assert inc.shape == ref.shape == (1, ids.shape[1], model.vocab_size)
    assert (inc - ref).abs().max() < TOL and (whole.logits - ref).abs().max() < TOL
    if arch == "gpt2-padded":
        assert model.vocab_size == b.tokenizer.vocab_size + 5


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_left_padded_batch_equals_rows(bundles, arch):
    """Prompts of different lengths, left-padded in one batch: every row as if decoded alone (as generate)."""
    b = bundles[arch]
    model, tok = b.model, b.tokenizer
    rows = [tok.encode("the cat").ids, tok.encode("she sells sea shells by the sea shore").ids]
    width = max(map(len, rows))
    prompt = torch.tensor([[0] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[False] * (width - len(r)) + [True] * len(r) for r in rows])
    nxt = torch.tensor([[7], [9]])
    with torch.no_grad():
        for hooks in ((), model.hook_names):
            state, _ = model.start(batch_size=2)
            out = model.decode(prompt, state, mask, hooks=hooks)
            out2 = model.decode(nxt, out.state, hooks=hooks)
            for j, r in enumerate(rows):
                ref = forward(b, None, torch.tensor([r + [int(nxt[j])]]))
                assert (out.logits[j, -1] - ref[0, -2]).abs().max() < TOL
                assert (out2.logits[j, -1] - ref[0, -1]).abs().max() < TOL
            if hooks:
                assert out2.hooks["key_mask"].tolist() == torch.cat([mask, torch.ones(2, 1, dtype=torch.bool)], 1).tolist()
                w = out2.hooks["attn.self.0"]          # padding keys get no attention
                assert w.shape == (2, hf_tiny.TINY["heads"], 1, width + 1)
                assert float(w[0, :, :, :width - len(rows[0])].abs().max()) == 0.0


@pytest.mark.parametrize("arch", ["marian", "bart"])
def test_padded_sources_equal_rows(bundles, arch):
    """Sources of different lengths, padded in one batch: every row as if decoded alone."""
    b = bundles[arch]
    model, tok = b.model, b.tokenizer
    rows = [tok.encode("the cat").ids, tok.encode("she sells sea shells by the sea shore").ids]
    width = max(map(len, rows))
    src = torch.tensor([r + [tok.pad_id] * (width - len(r)) for r in rows])
    mask = torch.tensor([[True] * len(r) + [False] * (width - len(r)) for r in rows])
    dec = torch.tensor([[tok.decoder_start_id, 7, 9]] * 2)
    with torch.no_grad():
        state, _ = model.start(src, mask)
        out = model.decode(dec[:, :2], state)
        out2 = model.decode(dec[:, 2:], out.state, hooks=["attn.cross.0"])
    for j, r in enumerate(rows):
        ref = forward(b, torch.tensor([r]), dec[:1])
        assert (out.logits[j] - ref[0, :2]).abs().max() < TOL and (out2.logits[j, -1] - ref[0, -1]).abs().max() < TOL
    assert float(out2.hooks["attn.cross.0"][0, :, :, len(rows[0]):].abs().max()) == 0.0   # no attention on padding


@pytest.mark.parametrize("arch", ["gpt2", "llama", "marian", "t5"])
def test_reorder_state_equals_recompute(bundles, arch):
    """A beam of 3 rows, reordered (rows repeated and dropped), then continued = recomputed from scratch."""
    b = bundles[arch]
    model = b.model
    src, ids = example(b, n_dec=4)
    beams = torch.cat([torch.cat([ids[:, :-1]] * 3, 0), torch.tensor([[10], [11], [12]])], 1)   # 3 hypotheses
    src3 = src.expand(3, -1) if src is not None else None
    with torch.no_grad():
        state, _ = start(model, src, batch_size=3) if src is None else model.start(src)
        if src is not None:
            state = model.expand_state(state, 3)
        out = model.decode(beams, state)
        index = torch.tensor([2, 0, 0])
        state = model.reorder_state(out.state, index)
        step = model.decode(torch.tensor([[20], [21], [22]]), state)
        expect = torch.cat([beams.index_select(0, index), torch.tensor([[20], [21], [22]])], 1)
        ref = forward(b, src3, expect)
    assert (step.logits[:, -1] - ref[:, -1]).abs().max() < TOL
    with pytest.raises(ValueError, match="stale"):          # the state from before the reorder
        model.decode(torch.tensor([[5], [5], [5]]), out.state)


@pytest.mark.parametrize("arch", ["gpt2", "marian"])
def test_state_decoded_twice(bundles, arch):
    """Decoding an earlier state of the same cache again (start once, two teacher-forced passes) gives
    what a fresh start gives: the cache is cut back to that state first."""
    b = bundles[arch]
    model = b.model
    src, ids = example(b)
    with torch.no_grad():
        state, _ = start(model, src)
        first = model.decode(ids[:, :4], state)
        model.decode(ids[:, 4:5], first.state)
        again = model.decode(ids[:, 4:], first.state)          # from the 4-token state
        twice = model.decode(ids, state)                        # from the start state
    ref = forward(b, src, ids)
    assert (again.logits - ref[:, 4:]).abs().max() < TOL and (twice.logits - ref).abs().max() < TOL


@pytest.mark.parametrize("arch", ["gpt2", "llama", "marian", "bart", "t5"])
def test_attention_only_when_asked_eager_equals_sdpa(bundles, arch):
    b = bundles[arch]
    model = b.model
    src, ids = example(b)
    H, L = hf_tiny.TINY["heads"], hf_tiny.TINY["layers"]
    with torch.no_grad():
        state, found = start(model, src)
        fast = model.decode(ids, state)
        assert fast.hooks == {} and found == {} and model._impl == "sdpa"
        state, found = start(model, src, hooks=model.hook_names)
        slow = model.decode(ids, state, hooks=model.hook_names)
        assert model._impl == "eager"
        plain = model.decode(ids, start(model, src)[0])         # and back to the fast path
        assert model._impl == "sdpa"
    assert (fast.logits - slow.logits).abs().max() < TOL and (plain.logits - fast.logits).abs().max() < TOL
    T = ids.shape[1]
    assert sorted(slow.hooks) == sorted(n for n in model.hook_names if not n.startswith("attn.encoder."))
    for i in range(L):
        w = slow.hooks[f"attn.self.{i}"]
        assert w.shape == (1, H, T, T)
        assert torch.allclose(w.sum(-1), torch.ones(1, H, T), atol=1e-5)
        assert float(w.triu(1).abs().max()) == 0.0                # causal
        if src is not None:
            assert slow.hooks[f"attn.cross.{i}"].shape == (1, H, T, src.shape[1])
            assert found[f"attn.encoder.{i}"].shape == (1, H, src.shape[1], src.shape[1])
    # hidden.final: the decoder's top hidden state, as HF reports it
    with torch.no_grad():
        kw = {"input_ids": src, "decoder_input_ids": ids} if src is not None else {"input_ids": ids}
        ref = model.hf(**kw, output_hidden_states=True)
    top = ref.decoder_hidden_states[-1] if src is not None else ref.hidden_states[-1]
    assert (slow.hooks["hidden.final"] - top).abs().max() < TOL and (fast.hidden - top).abs().max() < TOL
    one = model.decode(ids, start(model, src)[0], hooks=["attn.self.1"])
    assert sorted(one.hooks) == ["attn.self.1"]


def test_expand_state_method(bundles):
    """expand_state is a SeqModel method (the shipped models keep today's function)."""
    from engine.models.base import SeqModel, expand_state
    assert SeqModel.expand_state is not None
    b = bundles["marian"]
    src, ids = example(b)
    with torch.no_grad():
        state = b.model.expand_state(b.model.start(src)[0], 2)
        out = b.model.decode(torch.cat([ids, ids]), state)
    assert (out.logits[1] - forward(b, src, ids)[0]).abs().max() < TOL
    state = {"h": torch.arange(4.0)[:, None]}
    assert SeqModel().expand_state(state, 2)["h"][:, 0].tolist() == expand_state(state, 2)["h"][:, 0].tolist()


# -- the tokenizer ------------------------------------------------------------------------------------------

def test_roles(bundles):
    g, l, m, bt, t5 = (bundles[a].tokenizer for a in ARCHS)
    eot = g.hf.convert_tokens_to_ids("<|endoftext|>")
    assert (g.bos_id, g.eos_id, g.pad_id, g.decoder_start_id) == (eot, eot, None, None)
    assert (l.unk_id, l.bos_id, l.eos_id, l.pad_id) == (0, 1, 2, None)
    assert (m.eos_id, m.unk_id, m.pad_id, m.decoder_start_id) == (0, 1, m.vocab_size - 1, m.vocab_size - 1)
    assert (bt.bos_id, bt.pad_id, bt.eos_id, bt.unk_id, bt.decoder_start_id) == (0, 1, 2, 3, 2)
    assert (t5.pad_id, t5.eos_id, t5.unk_id, t5.decoder_start_id) == (0, 1, 2, 0)
    for tok in (g, l, m, bt, t5):
        assert tok.prepend_bos is False and tok.never_emit == () and tok.kind == "hf"
        assert tok.eos_id in tok.special_ids and tok.eos_ids == (tok.eos_id,)
    assert (g.style, l.style, m.style, bt.style) == ("byte-level", "sentencepiece", "sentencepiece", "byte-level")


def test_encode_as_hf(bundles):
    for arch in ARCHS:
        tok = bundles[arch].tokenizer
        text = "hello world, the cat"
        assert tok.encode(text).ids == tok.hf(text)["input_ids"]
        assert tok.encode(text, add_special_tokens=False).ids == tok.hf(text, add_special_tokens=False)["input_ids"]
    llama, marian = bundles["llama"].tokenizer, bundles["marian"].tokenizer
    assert llama.encode("the cat").ids[0] == llama.bos_id                      # the LM's <s> added by HF
    assert bundles["gpt2"].tokenizer.encode("the cat").ids[0] != bundles["gpt2"].tokenizer.bos_id
    enc = marian.encode("the cat € sat")
    assert enc.ids[-1] == marian.eos_id and enc.unknown == ["€"]               # a source ends with </s>
    assert marian.encode("the </s> cat").unknown == []


def test_byte_level_display_and_decode(bundles):
    tok = bundles["gpt2"].tokenizer
    vocab = tok.hf.get_vocab()
    assert tok.token_str(vocab["Ġthe"]) == " the" and tok.id_to_token(vocab["Ġthe"]) == "Ġthe"
    assert tok.token_str(vocab["Ċ"]) == "\n" and tok.token_str(vocab["Ġ"]) == " "
    assert tok.token_str(tok.eos_id) == "<|endoftext|>"
    enc = tok.encode("the cat € é\nend")
    shown = [tok.token_str(i) for i in enc.ids]
    assert "<0xE2>" in shown and enc.tokens == shown                            # a partial UTF-8 byte
    assert tok.decode(enc.ids) == "the cat € é\nend"                            # bytes joined
    assert tok.decode(enc.ids + [tok.eos_id] + enc.ids) == "the cat € é\nend"  # up to <eos>
    assert tok.decode(tok.encode(" sat on", add_special_tokens=False).ids) == " sat on"


def test_sentencepiece_display_and_decode(bundles):
    tok = bundles["llama"].tokenizer
    vocab = tok.hf.get_vocab()
    assert tok.token_str(vocab["\u2581the"]) == " the"
    assert tok.token_str(vocab["<0xE2>"]) == "<0xE2>" and tok.token_str(vocab["<0x41>"]) == "A"
    assert tok.token_str(tok.bos_id) == "<s>" and tok.token_str(tok.eos_id) == "</s>"
    enc = tok.encode("the cat € é")
    assert {"<0xE2>", "<0x82>", "<0xAC>"} <= set(enc.tokens)
    assert tok.decode(enc.ids) == "the cat € é"                                 # <s> dropped, bytes joined
    cont = tok.encode("sat on", add_special_tokens=False).ids
    assert tok.decode(cont) == "sat on" and tok.decode(cont, keep_leading_space=True) == " sat on"
    assert tok.decode(cont + [tok.eos_id] + cont) == "sat on"
    marian = bundles["marian"].tokenizer
    assert marian.decode(marian.encode("the cat").ids) == "the cat"
    assert marian.token_str(marian.pad_id) == "<pad>" and marian.pad_id in marian.special_ids


def test_padded_vocabulary_ids(bundles):
    b = bundles["gpt2-padded"]
    tok = b.tokenizer
    assert b.model.vocab_size == tok.vocab_size + 5
    assert tok.token_str(tok.vocab_size + 2) == f"<id {tok.vocab_size + 2}>"
    assert tok.decode([5, tok.vocab_size + 1, 6]) == tok.decode([5, 6])


# -- end to end (the decoding side: engine/decoding, engine/rollout) ------------------------------------

@pytest.mark.parametrize("arch", ["gpt2", "llama", "marian"])
def test_generate_greedy(bundles, arch):
    b = bundles[arch]
    trace = engine.generate(b, "the cat sat", {"max_new_tokens": 5})
    hyp = trace.hypotheses[0]
    assert 1 <= len(hyp["token_ids"]) <= 5
    assert all(0 <= i < b.tokenizer.vocab_size for i in hyp["token_ids"])
    engine.load_trace(json.dumps(trace.to_dict()))


@pytest.mark.parametrize("name", ["hf:", "hf:no-such/model-here", "hf:/no/such/folder"])
def test_hf_load_errors_are_checkpoint_errors(name):
    """engine.load('hf:') raised HFLoadError, which callers catching CheckpointError missed (fuzz suite)."""
    import engine
    with pytest.raises(engine.CheckpointError) as e:
        engine.load(name)
    assert "\n" not in str(e.value)


def test_cli_device_dtype_and_download_flags(folders, capsys):
    """decode / tf-fr take --device, --dtype (hf: models) and --download; bad values are one line, exit 2."""
    from engine.__main__ import main
    gpt2 = f"hf:{folders['gpt2']}"
    assert main(["decode", "--model", gpt2, "--input", "hello", "--dtype", "bfloat16", "--max-new-tokens", "3"]) == 0
    capsys.readouterr()
    assert main(["tf-fr", "--model", gpt2, "--input", "hello", "--reference", " world", "--device", "cpu",
                 "--dtype", "float32"]) == 0
    capsys.readouterr()
    for argv, needle in ((["--device", "gpu"], "--device"), (["--dtype", "int8"], "--dtype"),
                         (["--device", "cuda:0"], "CUDA is not available")):
        try:
            rc = main(["decode", "--model", gpt2, "--input", "hello", *argv])
        except SystemExit as e:
            rc = e.code
        err = capsys.readouterr().err
        assert rc == 2 and needle in err and err.count("\n") == 1, (argv, rc, err)
