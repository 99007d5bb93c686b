"""MIXER (Ranzato et al. 2016): the XENT / REINFORCE split and its schedule, the loss's gradient on a toy
case against a surrogate computed by hand, the reward rising, and one train() step from a checkpoint."""
import pytest
import torch
import torch.nn.functional as F

import engine
from engine import training as train_mod
from engine.rollout import never_emit_ids
from engine.tokenizer import PAD
from engine.training import Data, TrainConfig, mixer, resume
from engine.training.scst import rewards

# small models: one torch thread (two threads on a shared, busy CPU made the RL tests 10x slower)
pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {"d_emb": 16, "d_hidden": 32, "d_attn": 16, "dropout": 0.0, "max_len": 24}


def toy(seed=0):
    cfg = TrainConfig(name="t", task="addition", arch="gru-attn", batch_size=12,
                      data_sizes={"train": 300, "valid": 10, "test": 10})
    data = Data(cfg)
    torch.manual_seed(seed)
    return data, engine.models.build_model("gru-attn", {**TINY, "vocab_size": data.tok.vocab_size})


def test_the_schedule_moves_delta_tokens_to_reinforce_every_n_steps():
    lengths = torch.tensor([9, 5, 2, 1])
    assert mixer.reinforce_tokens(0, 2, 100) == 2 and mixer.reinforce_tokens(99, 2, 100) == 2
    assert mixer.reinforce_tokens(100, 2, 100) == 4 and mixer.reinforce_tokens(250, 3, 100) == 9
    assert mixer.split(lengths, 0, 2, 100).tolist() == [7, 3, 0, 0]        # stage 1: the last 2 tokens
    assert mixer.split(lengths, 199, 2, 100).tolist() == [5, 1, 0, 0]      # stage 2: the last 4
    assert mixer.split(lengths, 200, 2, 100).tolist() == [3, 0, 0, 0]
    assert mixer.split(lengths, 10_000, 2, 100).tolist() == [0, 0, 0, 0]   # pure REINFORCE at the end
    for step in range(0, 1000, 37):                       # XENT share never grows, by Delta per stage
        a, b = mixer.split(lengths, step, 2, 100), mixer.split(lengths, step + 100, 2, 100)
        assert bool((b <= a).all()) and bool(((a - b) <= 2).all())


def test_leave_one_out_baseline():
    r = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    assert torch.allclose(mixer.leave_one_out(r, 4), torch.tensor([1 / 3, 2 / 3, 2 / 3, 1 / 3, 1, 1, 1, 1]))
    assert torch.equal(mixer.leave_one_out(torch.tensor([0.0, 1.0]), 2), torch.tensor([1.0, 0.0]))


def sevens(preds, refs):            # toy reward: the share of '7' in the output (empty output: 0)
    return [p.count("7") / len(p) if p else 0.0 for p in preds]


def test_the_gradient_is_the_mixer_surrogates(monkeypatch):
    """With the samples and rewards fixed, the loss's gradient equals that of the surrogate written out by
    hand: teacher-forced NLL of the first s_i gold tokens + -(r - mean of the other rewards) * log p of
    each sampled continuation (re-scored by a teacher-forced pass over the gold prefix + the sample)."""
    data, model = toy()
    batch = data.batch(3)
    src, smask, tin, tout = batch
    seen = []
    real_rollout = mixer.rollout

    def spy(*a, **k):
        out = real_rollout(*a, **k)
        seen.append((k["prompt"], k["src"], k["src_mask"], out.tokens))
        return out

    monkeypatch.setattr(mixer, "rollout", spy)
    step, delta, every, n = 130, 2, 100, 3                  # stage 2: the last 4 tokens under REINFORCE
    model.zero_grad()
    loss, info = mixer.mixer_loss(model, batch, data.tok, torch.Generator().manual_seed(0), step, delta=delta,
                                  every=every, n=n, reward=sevens)
    loss.backward()
    got = [p.grad.clone() for p in model.parameters()]
    assert info["mixer_reinforce_tokens"] == 4 and len(seen) >= 2          # several split points in a batch
    # the surrogate, by hand
    lengths = (tout != PAD).sum(1)
    s = (lengths - 4).clamp(min=0)
    never = torch.tensor(never_emit_ids(data.tok))
    model.zero_grad()
    state = model.start(src, smask)[0]
    nll = F.cross_entropy(model.decode(tin, state).logits.transpose(1, 2), tout, ignore_index=PAD, reduction="none")
    total = nll[torch.arange(tout.shape[1])[None] < s[:, None]].sum()
    refs = [data.tok.decode(r) for r in tout.tolist()]
    for prompt, src_g, smask_g, toks in seen:
        k = prompt.shape[1] - 1
        rows = (s == k).nonzero()[:, 0]
        assert torch.equal(src_g, src[rows]) and torch.equal(prompt, tin[rows, :k + 1])
        st = engine.models.expand_state(model.start(src_g, smask_g)[0], n)
        full = torch.cat([prompt.repeat_interleave(n, 0), toks], 1)
        lp = model.decode(full[:, :-1], st).logits.index_fill(-1, never, float("-inf")).log_softmax(-1)
        lp = lp[:, k:].gather(-1, toks[..., None]).squeeze(-1).masked_fill(toks == PAD, 0).sum(1)
        outs = [data.tok.decode(p[1:].tolist()) + data.tok.decode(t) for p, t in
                zip(prompt.repeat_interleave(n, 0), toks.tolist())]
        r = rewards(outs, [refs[i] for i in rows.tolist() for _ in range(n)], sevens).reshape(-1, n)
        base = (r.sum(1, keepdim=True) - r) / (n - 1)
        total = total - ((r - base).reshape(-1) * lp).sum() / n
    (total / lengths.sum()).backward()
    for a, b in zip(got, (p.grad for p in model.parameters())):
        assert torch.allclose(a, b, atol=1e-6)
    assert any(float(g.abs().max()) > 0 for g in got)


def test_equal_rewards_leave_only_the_cross_entropy_gradient():
    data, model = toy()
    batch = data.batch(4)
    src, smask, tin, tout = batch
    model.zero_grad()
    loss, _ = mixer.mixer_loss(model, batch, data.tok, torch.Generator().manual_seed(0), 0, n=2,
                               reward=lambda p, r: [0.5] * len(p))
    loss.backward()
    got = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    lengths = (tout != PAD).sum(1)
    nll = F.cross_entropy(model.decode(tin, model.start(src, smask)[0]).logits.transpose(1, 2), tout,
                          ignore_index=PAD, reduction="none")
    (nll[torch.arange(tout.shape[1])[None] < (lengths - 2)[:, None]].sum() / lengths.sum()).backward()
    for a, p in zip(got, model.parameters()):
        assert torch.allclose(a, p.grad, atol=1e-6)


def test_reinforce_raises_the_reward_on_a_toy_task():
    data, model = toy()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    rs = []
    for step in range(40):                     # Delta 9: the whole output sampled (REINFORCE only)
        loss, info = mixer.mixer_loss(model, data.batch(step), data.tok, g, step, delta=9, every=1000, n=4,
                                      reward=sevens)
        opt.zero_grad()
        loss.backward()
        opt.step()
        rs.append(info["reward_sample"])
    assert sum(rs[-5:]) / 5 > sum(rs[:5]) / 5 + 0.2, rs


def test_options_are_checked():
    base = dict(name="x", task="addition", arch="gru-attn")
    with pytest.raises(ValueError, match="MIXER is a fine-tuning stage"):
        TrainConfig.from_dict({**base, "stage": "mixer"})
    for bad, match in ((dict(mixer_samples=1), "mixer_samples must be from 2"),
                       (dict(mixer_samples=65), "MAX_SCST_SAMPLES"), (dict(mixer_delta=0), "mixer_delta must be >= 1"),
                       (dict(mixer_every=0), "mixer_every"), (dict(mixer_reward="bleu"), "mixer_reward must be one of"),
                       (dict(ss_schedule="linear"), "MIXER feeds"), (dict(length_buckets=2), "length_buckets")):
        with pytest.raises(ValueError, match=match):
            TrainConfig.from_dict({**base, "stage": "mixer", "init_from": "addition-gru", **bad})


def test_one_mixer_step_from_a_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(resume, "RUNS_DIR", tmp_path / "runs")
    small = dict(task="addition", arch="gru-attn", model=TINY, batch_size=8, eval_every=2, eval_examples=10,
                 data_sizes={"train": 100, "valid": 10, "test": 10}, seed=1)
    train_mod.train(TrainConfig(name="base", steps=2, **small), tmp_path / "ckpt", progress=False)
    cfg = TrainConfig.from_dict(dict(name="mix", steps=2, stage="mixer", init_from=str(tmp_path / "ckpt/base"),
                                     mixer_every=1, lr=1e-3, **small))
    before = engine.load(tmp_path / "ckpt/base").model.state_dict()
    card = train_mod.train(cfg, tmp_path / "ckpt", progress=False)
    assert card["steps"] == 2 and "train_reward_sample" in card["history"][-1]
    assert card["training_config"]["stage"] == "mixer" and card["metrics"]["init_from"].endswith("base")
    after = engine.load(tmp_path / "ckpt/mix").model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
