"""Training end to end on a tiny budget: progress, validation, checkpoint written atomically, resume."""
import json

import pytest
import torch

import engine
from engine import training as train_mod
from engine.training import Data, TrainConfig, seq2seq_loss
from engine.training import resume, scheduled_sampling

# tiny models: one torch thread (two threads on a shared, busy CPU made these tests several times slower)
pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {"d_emb": 8, "d_hidden": 16, "d_attn": 8, "max_len": 16}
TINY_TF = {"d_model": 16, "n_layers": 1, "n_dec_layers": 1, "n_heads": 2, "d_ff": 32, "max_len": 24}


def cfg(**kw):
    d = dict(name="tiny-add", task="addition", arch="gru-attn", model=TINY, steps=12, batch_size=8,
             eval_every=6, eval_examples=20, data_sizes={"train": 200, "valid": 20, "test": 20}, lr=1e-2,
             patience=10, seed=3)
    d.update(kw)
    return TrainConfig(**d)


def test_train_writes_loadable_checkpoint_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setattr(resume, "RUNS_DIR", tmp_path / "runs")
    card = train_mod.train(cfg(steps=6), tmp_path / "ckpt", progress=False)
    assert card["steps"] == 6 and len(card["history"]) == 1
    assert (resume.resume_dir("tiny-add", tmp_path / "ckpt") / "state.json").exists()
    # runs of one name written to other folders keep their resume state apart
    assert resume.resume_dir("tiny-add", tmp_path / "other") != resume.resume_dir("tiny-add", tmp_path / "ckpt")
    assert resume.resume_dir("x") == tmp_path / "runs/x/resume"            # the shipped checkpoints/
    # resume to 12 steps continues from step 6
    card2 = train_mod.train(cfg(steps=12), tmp_path / "ckpt", resume=True, progress=False)
    assert card2["steps"] == 12 and [h["step"] for h in card2["history"]] == [6, 12]
    b = engine.load(tmp_path / "ckpt" / "tiny-add")
    assert b.task == "addition" and "test_exact_match" in b.card["metrics"]
    assert json.loads((tmp_path / "ckpt/tiny-add/config.json").read_text())["arch"] == "gru-attn"
    assert not list((tmp_path / "ckpt/tiny-add").glob(".*tmp"))


def test_resume_matches_uninterrupted(tmp_path, monkeypatch):
    monkeypatch.setattr(resume, "RUNS_DIR", tmp_path / "runs")
    a = train_mod.train(cfg(name="a", steps=12), tmp_path / "ckpt", progress=False)
    train_mod.train(cfg(name="b", steps=6), tmp_path / "ckpt", progress=False)
    b = train_mod.train(cfg(name="b", steps=12), tmp_path / "ckpt", resume=True, progress=False)
    assert abs(a["history"][-1]["valid_nll"] - b["history"][-1]["valid_nll"]) < 1e-3


def test_decoder_input_can_come_from_the_model():
    torch.manual_seed(0)
    data = Data(cfg())
    model = engine.models.build_model("gru-attn", {**TINY, "vocab_size": data.tok.vocab_size}).eval()
    batch = data.batch(0)
    seen = []
    real_decode = model.decode

    def spy(ids, state, *a, **k):
        seen.append(ids.clone())
        return real_decode(ids, state, *a, **k)

    model.decode = spy
    g = torch.Generator().manual_seed(0)
    seq2seq_loss(model, batch, cfg(feed_model_prob=0.0), g)
    assert torch.equal(seen[-1], batch[2])                       # teacher forcing: gold inputs
    seen.clear()
    seq2seq_loss(model, batch, cfg(feed_model_prob=1.0, ss_sample=False), g)
    # a GRU decoder mixes token by token: with eps = 0 and ss_sample False every input after BOS is the
    # model's argmax given the prefix it was actually fed, i.e. the decoder runs free (greedy decoding)
    fed = torch.cat(seen, 1)
    state = model.start(batch[0], batch[1])[0]
    x, greedy = batch[2][:, :1], [batch[2][:, 0]]
    for _ in range(batch[2].shape[1] - 1):
        o = real_decode(x, state)
        state, x = o.state, o.logits[:, -1:].argmax(-1)
        greedy.append(x[:, 0])
    greedy = torch.stack(greedy, 1)
    real = batch[2] != 0
    assert torch.equal(fed[real], greedy[real])
    # by default (Bengio et al. 2015) it feeds samples of the model's distribution: an untrained model's
    # samples are not its argmax everywhere, and each is a draw from the prefix it was actually fed
    seen.clear()
    assert cfg().ss_sample is True
    seq2seq_loss(model, batch, cfg(feed_model_prob=1.0), torch.Generator().manual_seed(0))
    fed = torch.cat(seen, 1)
    assert torch.equal(fed[:, 0], batch[2][:, 0]) and not torch.equal(fed[real], greedy[real])
    state, x, again = model.start(batch[0], batch[1])[0], batch[2][:, :1], [batch[2][:, 0]]
    g = torch.Generator().manual_seed(0)
    for _ in range(batch[2].shape[1] - 1):
        o = real_decode(x, state)
        own = scheduled_sampling.model_tokens(o.logits[:, -1], True, g)
        torch.rand(own.shape[0], generator=g)                          # the coin drawn after the sample
        state, x = o.state, own[:, None]
        again.append(own)
    assert torch.equal(fed[real], torch.stack(again, 1)[real])


def test_saved_configs_keep_the_argmax_they_were_trained_with():
    """A config saved before ss_sample defaulted to sampling (no ss_sample key) fed the argmax, and still
    means that when loaded (TrainConfig.from_saved); an explicit value is kept; today's default samples."""
    import pytest
    from engine.training.config import check_resumed
    old = {"name": "x", "task": "addition", "arch": "gru-attn", "ss_schedule": "inverse_sigmoid", "ss_k": 420.0}
    assert TrainConfig.from_dict(old).ss_sample is True
    assert TrainConfig.from_saved(old).ss_sample is False
    assert TrainConfig.from_saved({**old, "ss_sample": True}).ss_sample is True
    shipped = engine.load("addition-gru").card["training_config"]          # saved without ss_sample
    assert "ss_sample" not in shipped and TrainConfig.from_saved(shipped).ss_sample is False
    with pytest.raises(ValueError, match="--ss-argmax"):
        check_resumed(old, TrainConfig.from_dict(old))                     # would switch to sampling
    check_resumed(old, TrainConfig.from_saved(old))
    check_resumed({**old, "ss_schedule": "none"}, TrainConfig.from_dict({**old, "ss_schedule": "none"}))
    with pytest.raises(ValueError, match="--ss-sample"):
        check_resumed({**old, "ss_sample": True}, TrainConfig.from_saved(old))


def test_a_resumed_run_keeps_its_sampling_rule(tmp_path, monkeypatch):
    import pytest
    monkeypatch.setattr(resume, "RUNS_DIR", tmp_path / "runs")
    ss = dict(ss_schedule="linear", ss_k=1.0, ss_c=0.05)
    train_mod.train(cfg(steps=6, ss_sample=False, **ss), tmp_path / "ckpt", progress=False)
    with pytest.raises(ValueError, match="--ss-argmax"):
        train_mod.train(cfg(steps=12, **ss), tmp_path / "ckpt", resume=True, progress=False)
    state = resume.resume_dir("tiny-add", tmp_path / "ckpt") / "state.json"
    d = json.loads(state.read_text())
    del d["config"]["ss_sample"]                                    # as saved before the key existed
    state.write_text(json.dumps(d))
    with pytest.raises(ValueError, match="--ss-argmax"):
        train_mod.train(cfg(steps=12, **ss), tmp_path / "ckpt", resume=True, progress=False)
    card = train_mod.train(cfg(steps=12, ss_sample=False, **ss), tmp_path / "ckpt", resume=True, progress=False)
    assert card["steps"] == 12


def test_eps_one_is_exactly_teacher_forcing():
    data = Data(cfg())
    batch = data.batch(0)
    for arch, model_cfg in (("gru-attn", TINY), ("transformer", TINY_TF)):
        torch.manual_seed(0)
        model = engine.models.build_model(arch, {**model_cfg, "vocab_size": data.tok.vocab_size}).eval()
        g = torch.Generator().manual_seed(0)
        plain = seq2seq_loss(model, batch, cfg(), g)
        for c in (cfg(ss_schedule="constant", ss_k=1.0), cfg(ss_schedule="linear", ss_k=1.0, ss_c=0.0)):
            assert c.gold_prob(1000) == 1.0
            assert torch.equal(seq2seq_loss(model, batch, c, g, c.gold_prob(1000)), plain)
        # the token-by-token path with eps = 1 computes the same loss as one teacher-forced call
        src, smask, tin, tout = batch
        logits, fed = scheduled_sampling.recurrent_logits(model, tin, model.start(src, smask)[0], 1.0, False, g) \
            if arch == "gru-attn" else (model.decode(tin, model.start(src, smask)[0]).logits, tin)
        assert torch.equal(fed, tin)
        assert torch.allclose(torch.nn.functional.cross_entropy(logits.transpose(1, 2), tout, ignore_index=0),
                              plain, atol=1e-6)


def test_two_pass_mixing_for_parallel_decoders():
    torch.manual_seed(0)
    data = Data(cfg())
    model = engine.models.build_model("transformer", {**TINY_TF, "vocab_size": data.tok.vocab_size}).eval()
    src, smask, tin, tout = data.batch(1)
    state = model.start(src, smask)[0]
    pred = model.decode(tin, state).logits.argmax(-1)
    real = tin[:, 1:] != 0
    g = torch.Generator().manual_seed(1)
    mixed = scheduled_sampling.mix_two_pass(model, tin, state, 0.0, False, g)
    assert torch.equal(mixed[:, 0], tin[:, 0]) and torch.equal(mixed[:, 1:][real], pred[:, :-1][real])
    half = scheduled_sampling.mix_two_pass(model, tin, state, 0.5, False, torch.Generator().manual_seed(2))
    from_gold = (half[:, 1:] == tin[:, 1:])[real].float().mean().item()
    assert 0.25 <= from_gold < 1.0            # about half the coins keep gold (a small batch: loose bounds)
    sampled = scheduled_sampling.mix_two_pass(model, tin, state, 0.0, True, torch.Generator().manual_seed(3))
    assert not torch.equal(sampled[:, 1:][real], pred[:, :-1][real])   # an untrained model's samples vary


def test_lm_scheduled_sampling_and_curriculum(tmp_path, monkeypatch):
    monkeypatch.setattr(resume, "RUNS_DIR", tmp_path / "runs")
    c = TrainConfig(name="tiny-hmm", task="hmm", arch="gpt", model={"d_model": 16, "n_layers": 1, "n_heads": 2,
                    "d_ff": 32, "max_len": 64}, steps=4, batch_size=4, eval_every=4, eval_examples=10,
                    data_sizes={"train": 50, "valid": 10, "test": 10}, ss_schedule="inverse_sigmoid", ss_k=2.0,
                    curriculum_steps=4, curriculum_start=8)
    data = Data(c)
    assert data.batch(0)[0].shape[1] == 9 and data.batch(4)[0].shape[1] == 50      # BOS + 48 + EOS
    card = train_mod.train(c, tmp_path / "ckpt", progress=False)
    assert card["history"][-1]["eps"] == round(2 / (2 + 2.718281828 ** (3 / 2)), 4)


def test_curriculum_seq2seq_starts_short():
    d = Data(cfg(curriculum_steps=100, curriculum_start=2))
    short = d.batch(0)[3]
    full = d.batch(100)[3]
    assert int((short != 0).sum(1).max()) <= 3                  # 2 target tokens + EOS
    assert int((full != 0).sum(1).max()) > 3


def test_truncated_bptt_cuts_the_gradient():
    torch.manual_seed(0)
    data = Data(cfg())
    model = engine.models.build_model("gru-attn", {**TINY, "vocab_size": data.tok.vocab_size})
    src, smask, tin, tout = data.batch(0)
    state = model.start(src, smask)[0]
    h0 = state["h"].detach().requires_grad_(True)
    state = {**state, "h": h0, "memory": state["memory"].detach(), "memory_proj": state["memory_proj"].detach()}
    logits, _ = scheduled_sampling.recurrent_logits(model, tin, state, 1.0, False, torch.Generator(), tbptt=2)
    g_late, = torch.autograd.grad(logits[:, 2:].sum(), h0, retain_graph=True, allow_unused=True)
    g_early, = torch.autograd.grad(logits[:, 1].sum(), h0)
    assert g_late is None or float(g_late.abs().max()) == 0.0
    assert float(g_early.abs().max()) > 0.0


def test_length_buckets_give_the_same_loss_with_less_padding():
    """A batch split into micro-batches of similar source length: same loss and gradient, fewer pads."""
    whole = Data(cfg(task="dates", batch_size=32)).batch(5)
    data = Data(cfg(task="dates", batch_size=32, length_buckets=4))
    parts = data.batch(5)
    assert isinstance(parts, list) and len(parts) == 4 and sum(p[0].shape[0] for p in parts) == 32
    assert sum(p[0].numel() for p in parts) < whole[0].numel()          # less source padding
    for arch, model_cfg in (("gru-attn", {**TINY, "max_len": 64}), ("transformer", {**TINY_TF, "max_len": 64})):
        torch.manual_seed(0)
        model = engine.models.build_model(arch, {**model_cfg, "vocab_size": data.tok.vocab_size}).eval()
        losses, grads = [], []
        for batch in (whole, parts):
            model.zero_grad()
            loss = seq2seq_loss(model, batch, cfg(), torch.Generator().manual_seed(0))
            loss.backward()
            losses.append(loss.item())
            grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
        assert abs(losses[0] - losses[1]) < 1e-5
        assert torch.allclose(grads[0], grads[1], atol=1e-5)


def test_keeping_the_last_weights_turns_off_early_stopping(tmp_path, monkeypatch):
    monkeypatch.setattr(resume, "RUNS_DIR", tmp_path / "runs")
    card = train_mod.train(cfg(steps=12, eval_every=2, patience=1, lr=0.0, select_best=False), tmp_path / "ckpt",
                           progress=False)                 # lr 0: nothing improves, patience 1 would stop at 4
    assert card["steps"] == 12 and card["stopped"] == "reached 12 steps"
    card = train_mod.train(cfg(name="t2", steps=12, eval_every=2, patience=1, lr=0.0), tmp_path / "ckpt",
                           progress=False)
    assert card["steps"] == 4 and card["stopped"].startswith("early stopping")


def test_bad_options_are_refused():
    import pytest
    for bad in (dict(ss_schedule="nope"), dict(ss_schedule="inverse_sigmoid", ss_k=0.5),
                dict(feed_model_prob=0.5, ss_schedule="linear"), dict(stage="scst"),
                dict(arch="transformer", tbptt=3), dict(label_smoothing=1.5), dict(length_buckets=0)):
        with pytest.raises(ValueError):
            TrainConfig.from_dict({**dict(name="x", task="addition", arch="gru-attn"), **bad})


def test_train_cli_flags_reach_the_config(tmp_path):
    import argparse, subprocess, sys
    import pytest
    from engine.training.cli import add_parsers, config_from_args
    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers(dest="command"))
    base = ["train", "--recipe", "addition-gru-ss"]
    assert config_from_args(parser.parse_args(base)).ss_sample is True
    assert config_from_args(parser.parse_args(base + ["--ss-sample"])).ss_sample is True
    assert config_from_args(parser.parse_args(base + ["--ss-argmax"])).ss_sample is False
    mix = config_from_args(parser.parse_args(["train", "--recipe", "addition-gru", "--stage", "mixer", "--init-from",
                                              "addition-gru", "--mixer-delta", "3", "--mixer-samples", "2"]))
    assert (mix.stage, mix.mixer_delta, mix.mixer_samples, mix.mixer_every) == ("mixer", 3, 2, 100)
    with pytest.raises(SystemExit):
        parser.parse_args(base + ["--ss-sample", "--ss-argmax"])
    out = subprocess.run([sys.executable, "-m", "engine", "train", "--name", "x", "--task", "addition", "--arch",
                          "gru-attn", "--ss-schedule", "inverse_sigmoid", "--ss-k", "0.5"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "k >= 1" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run([sys.executable, "-m", "engine", "train", "--recipe", "dates-transformer",
                          "--length-buckets", "0"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "length_buckets must be >= 1" in out.stderr and "Traceback" not in out.stderr


def test_callback_reports_and_can_cancel(tmp_path, monkeypatch):
    monkeypatch.setattr(resume, "RUNS_DIR", tmp_path / "runs")
    seen = []

    def cb(info):
        seen.append(info)
        return False if info.get("step") == 3 and "loss" in info else None

    card = train_mod.train(cfg(name="c", steps=12, ss_schedule="linear", ss_k=1.0, ss_c=0.05), tmp_path / "ckpt",
                           progress=False, callback=cb)
    assert card["steps"] == 3 and card["stopped"] == "cancelled at step 3"
    assert [s["eps"] for s in seen if "loss" in s] == [1.0, 0.95, 0.9]
    assert any("eval" in s for s in seen) and (tmp_path / "ckpt/c/model.safetensors").exists()


def test_bpe_vocabulary_size_for_a_language_model(tmp_path, monkeypatch):
    monkeypatch.setattr(resume, "RUNS_DIR", tmp_path / "runs")
    sizes = {}
    for v in (32, 64):
        c = TrainConfig(name=f"bpe{v}", task="hmm", arch="gpt", tokenizer="bpe", bpe_vocab_size=v,
                        model={"d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 32, "max_len": 64}, steps=2,
                        batch_size=4, eval_every=2, eval_examples=10, data_sizes={"train": 300, "valid": 10, "test": 10})
        card = train_mod.train(c, tmp_path / "ckpt", progress=False)
        b = engine.load(tmp_path / "ckpt" / f"bpe{v}")
        sizes[v] = b.tokenizer.vocab_size
        text = "abcdefghij"
        assert b.tokenizer.decode(b.tokenizer.encode(text).ids) == text
        assert "test_nll_per_symbol" in card["metrics"]
    assert 24 < sizes[32] <= 32 < sizes[64] <= 64
