"""Self-critical sequence training: rewards, rollouts, and the reward rises on a toy task."""
import pytest
import torch

import engine
from engine.training import Data, TrainConfig
from engine.rollout import never_emit_ids, rollout
from engine.training.scst import rewards, scst_loss
from engine.tokenizer import EOS, PAD


# small models: one torch thread (two threads on a shared, busy CPU made the RL tests 10x slower)
pytestmark = pytest.mark.usefixtures("one_torch_thread")

def test_rewards():
    assert rewards(["12", "13"], ["12", "12"], "exact").tolist() == [1.0, 0.0]
    chrf = rewards(["hello world", "hello wrld", "zzz"], ["hello world"] * 3, "chrf")
    assert chrf[0] == 1.0 and 0.0 < chrf[1] < 1.0 and chrf[2] < chrf[1]


def toy():
    cfg = TrainConfig(name="t", task="addition", arch="gru-attn", batch_size=32,
                      data_sizes={"train": 300, "valid": 10, "test": 10})
    data = Data(cfg)
    torch.manual_seed(0)
    model = engine.models.build_model("gru-attn", {"d_emb": 16, "d_hidden": 32, "d_attn": 16, "dropout": 0.0,
                                                   "max_len": 24, "vocab_size": data.tok.vocab_size})
    return data, model


def sevens(preds, refs):            # toy reward: the share of '7' in the output (empty output: 0)
    return [p.count("7") / len(p) if p else 0.0 for p in preds]


def test_rollout_log_probs_match_a_teacher_forced_pass():
    data, model = toy()
    model.eval()
    src, smask, _, _ = data.batch(0)
    run = rollout(model, data.tok, src=src, src_mask=smask, max_new=10, rows_per_input=2, sample=True,
                  generators=torch.Generator().manual_seed(0))
    ids, logp = run.tokens, run.logprobs.sum(1)
    assert ids.shape[0] == 2 * src.shape[0]
    # re-score the sampled sequences by teacher forcing: same log-probabilities
    state = engine.models.expand_state(model.start(src, smask)[0], 2)
    tin = torch.cat([torch.full((ids.shape[0], 1), 1), ids[:, :-1]], 1)
    lp = model.decode(tin, state).logits.index_fill(-1, torch.tensor(never_emit_ids(data.tok)), float("-inf")).log_softmax(-1).gather(-1, ids[..., None]).squeeze(-1)
    assert torch.allclose(lp.masked_fill(ids == PAD, 0).sum(1), logp, atol=1e-4)
    ended = (ids == EOS).any(1)
    assert ended.any() or ids.shape[1] == 10


def test_scst_raises_the_reward_on_a_toy_task():
    data, model = toy()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    held = data.batch(10_000)

    def greedy_reward():
        model.eval()
        with torch.no_grad():
            ids = rollout(model, data.tok, src=held[0], src_mask=held[1], max_new=8).tokens
        model.train()
        return float(rewards([data.tok.decode(r) for r in ids.tolist()], [""] * ids.shape[0], sevens).mean())

    before = greedy_reward()
    for step in range(40):
        loss, info = scst_loss(model, data.batch(step), data.tok, g, n=4, reward=sevens)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = greedy_reward()
    assert after > before + 0.3, (before, after)
    assert 0.0 <= info["nonzero_advantage"] <= 1.0


def test_scst_needs_a_starting_checkpoint():
    import pytest
    with pytest.raises(ValueError, match="init_from"):
        TrainConfig.from_dict(dict(name="x", task="addition", arch="gru-attn", stage="scst"))


def test_the_control_comparison_is_paired():
    """engine.training.remedies.compare_pair: b - a over the same examples (McNemar on the discordant ones,
    paired bootstrap over the pooled pairs, t over the test seeds); an equal pair is inconclusive."""
    from engine.training.remedies import compare_pair
    a = {0: [1] * 70 + [0] * 30, 1: [1] * 72 + [0] * 28}
    b = {0: [1] * 95 + [0] * 5, 1: [1] * 96 + [0] * 4}
    r = compare_pair(a, b, [0, 1])
    assert r["only_b_right"] == 49 and r["only_a_right"] == 0 and r["mcnemar_p"] < 1e-10
    assert abs(r["difference"] - 0.245) < 1e-9 and 0 < r["bootstrap_lo"] < 0.245 < r["bootstrap_hi"]
    assert r["outcome"] == "b better" and r["per_seed_difference"] == [0.25, 0.24]
    same = compare_pair(a, a, [0, 1])
    assert same["mcnemar_p"] == 1.0 and same["outcome"] == "inconclusive" and same["difference"] == 0.0
    # unpaired shuffles would hide a swap: b right exactly where a is wrong and vice versa, same accuracy
    swap = compare_pair({0: [1, 0] * 50}, {0: [0, 1] * 50}, [0])
    assert swap["only_a_right"] == 50 == swap["only_b_right"] and swap["outcome"] == "inconclusive"
