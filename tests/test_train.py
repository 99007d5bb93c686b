"""Training end to end on a tiny budget: progress, validation, checkpoint written atomically, resume."""
import json

import torch

import engine
from engine import train as train_mod
from engine.train import TrainConfig, seq2seq_loss, Data

TINY = {"d_emb": 8, "d_hidden": 16, "d_attn": 8, "max_len": 16}


def cfg(**kw):
    d = dict(name="tiny-add", task="addition", arch="gru-attn", model=TINY, steps=12, batch_size=8,
             eval_every=6, eval_examples=20, data_sizes={"train": 200, "valid": 20, "test": 20}, lr=1e-2,
             patience=10, seed=3)
    d.update(kw)
    return TrainConfig(**d)


def test_train_writes_loadable_checkpoint_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setattr(train_mod, "RUNS_DIR", tmp_path / "runs")
    card = train_mod.train(cfg(steps=6), tmp_path / "ckpt", progress=False)
    assert card["steps"] == 6 and len(card["history"]) == 1
    assert (tmp_path / "runs/tiny-add/resume/state.json").exists()
    # resume to 12 steps continues from step 6
    card2 = train_mod.train(cfg(steps=12), tmp_path / "ckpt", resume=True, progress=False)
    assert card2["steps"] == 12 and [h["step"] for h in card2["history"]] == [6, 12]
    b = engine.load(tmp_path / "ckpt" / "tiny-add")
    assert b.task == "addition" and "test_exact_match" in b.card["metrics"]
    assert json.loads((tmp_path / "ckpt/tiny-add/config.json").read_text())["arch"] == "gru-attn"
    assert not list((tmp_path / "ckpt/tiny-add").glob(".*tmp"))


def test_resume_matches_uninterrupted(tmp_path, monkeypatch):
    monkeypatch.setattr(train_mod, "RUNS_DIR", tmp_path / "runs")
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
    seq2seq_loss(model, batch, cfg(feed_model_prob=1.0), g)
    first_pass, second = seen
    pred = real_decode(batch[2], model.start(batch[0], batch[1])[0]).logits.argmax(-1)
    gold_real = batch[2][:, 1:] != 0
    assert torch.equal(second[:, 1:][gold_real], pred[:, :-1][gold_real])   # all model tokens
