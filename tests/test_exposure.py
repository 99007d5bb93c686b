"""engine.exposure: the formulas against closed forms and simulations, and the analysis end to end."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import engine
from engine import exposure as ex
from engine.checkpoint import Bundle, save_checkpoint
from engine.exposure.cli import add_parsers
from engine.rollout import never_emit_ids, rollout
from engine.tasks.hmm import HMMOracle
from engine.tokenizer import Tokenizer


def test_compounding_closed_form():
    T = 12
    assert np.allclose(ex.compounding_delta(1.0, 3.0, 0.0, T), 0.0)               # never leaves the path
    assert np.allclose(ex.compounding_delta(1.0, 3.0, 1.0, T), 2.0 * np.arange(T))  # leaves at once
    # brute force: the expected extra cost of the absorbing two-state chain, by dynamic programming
    c, d, e = 0.5, 2.0, 0.15
    p_on, extra = 1.0, []
    for t in range(1, T + 1):
        extra.append((1 - p_on) * (d - c))
        p_on *= 1 - e
    assert np.allclose(ex.compounding_delta(c, d, e, T), np.cumsum(extra))


def test_fit_recovers_a_simulated_two_state_chain():
    g = torch.Generator().manual_seed(0)
    n, T, c, d, e = 20000, 16, 0.3, 1.7, 0.08
    leave = torch.rand(n, T, generator=g) < e
    on_path = torch.cat([torch.ones(n, 1, dtype=torch.bool), torch.cumprod((~leave).long(), 1)[:, :-1].bool()], 1)
    noise = 0.1 * torch.randn(n, T, generator=g)
    nll_fr = torch.where(on_path, c + noise, d + noise).double()
    nll_tf = (c + 0.1 * torch.randn(n, T, generator=g)).double()
    valid = torch.ones(n, T, dtype=torch.bool)
    fit = ex.fit_compounding(nll_fr, nll_tf, on_path, on_path & leave, valid)
    assert fit["c"] == pytest.approx(c, abs=0.01) and fit["d"] == pytest.approx(d, abs=0.01)
    assert fit["e"] == pytest.approx(e, abs=0.005)
    assert fit["relative_rmse"] < 0.03
    assert fit["final_measured"] == pytest.approx(ex.compounding_delta(c, d, e, T)[-1], rel=0.05)


def test_drift_fit_recovers_amplification():
    n, T = 50, 20
    for alpha, eps in ((0.6, 1.0), (1.2, 0.5)):
        D = torch.zeros(n, T, dtype=torch.float64)
        start = torch.randint(0, 5, (n,), generator=torch.Generator().manual_seed(1))
        for i in range(n):
            prev = 0.0
            for t in range(start[i], T):
                prev = alpha * prev + eps if t > start[i] else eps
                D[i, t] = prev
        differs = torch.arange(T)[None] >= start[:, None]
        fit = ex.drift_fit(D, differs, torch.ones(n, T, dtype=torch.bool), min_count=1)
        assert fit["alpha"] == pytest.approx(alpha, abs=1e-6) and fit["eps"] == pytest.approx(eps, abs=1e-6)
        assert ("explosive" in fit["regime"]) == (alpha > 1)
    assert fit["predicted_steady_gap"] is None
    stable = ex.drift_fit(D * 0 + 2.5, differs, torch.ones(n, T, dtype=torch.bool), min_count=1)
    assert stable["alpha"] is None  # a constant gap has no variance to fit


def test_ece_of_a_calibrated_predictor_is_near_zero():
    g = torch.Generator().manual_seed(0)
    conf = torch.rand(200_000, generator=g)
    correct = torch.rand(200_000, generator=g) < conf
    value, bins = ex.ece(conf, correct)
    assert value < 0.01 and len(bins) == 10 and sum(b["count"] for b in bins) == 200_000
    over, _ = ex.ece(conf.clamp(min=0.9), correct)                  # overconfident
    assert over > 0.2


def hmm_bundle(model=None):
    oracle = HMMOracle()
    tok = Tokenizer.train_char(oracle.sample(50, seed=0))
    model = model or ex.OracleLM(oracle, tok)
    return Bundle("oracle", model, tok, {"task": "hmm", "kind": "lm", "arch": "oracle", "name": "oracle"})


def test_ex_acc_err_is_zero_when_the_model_is_the_oracle():
    b = hmm_bundle()
    res = ex.oracle_kl(b, n=200, n_boot=20)
    assert max(abs(v) for v in res["kl_data_prefixes"]) < 1e-9
    assert max(abs(v) for v in res["kl_model_prefixes"]) < 1e-9
    assert abs(res["acc_err_at_length"]) < 1e-8 and res["pct_ex_acc_err_at_length"] == 0.0
    acc, pct = ex.acc_err([0.1, 0.1, 0.1], [0.1, 0.2, 0.4])
    assert np.allclose(acc, [0.0, 0.1, 0.4]) and np.allclose(pct, [0.0, 50.0, 400 / 3])


def test_oracle_kl_of_a_wrong_model_is_positive():
    b = hmm_bundle()
    oracle_model = b.model

    class Blurred(ex.OracleLM):                # the oracle mixed with uniform noise: KL > 0 everywhere
        def _logits(self, alpha, pos):
            return (0.7 * super()._logits(alpha, pos).exp() + 0.3 / self.vocab).log()

    blurred = Blurred(oracle_model.oracle, b.tokenizer)
    res = ex.oracle_kl(hmm_bundle(blurred), n=100, n_boot=20)
    assert min(res["kl_data_prefixes"]) > 0.01 and res["mean_kl_model"] > 0.01


def tiny_checkpoint(tmp_path):
    from engine.training import Data, TrainConfig
    cfg = TrainConfig(name="tiny", task="addition", arch="gru-attn", data_sizes={"train": 100, "valid": 10, "test": 10})
    tok = Data(cfg).tok
    torch.manual_seed(0)
    model = engine.models.build_model("gru-attn", {"d_emb": 8, "d_hidden": 16, "d_attn": 8, "dropout": 0.0,
                                                   "max_len": 24, "vocab_size": tok.vocab_size})
    with torch.no_grad():                         # favour the digits so that greedy output is not empty
        model.out.bias[4:14] += 2.0
    save_checkpoint(tmp_path / "tiny", model, tok, {"name": "tiny", "task": "addition", "kind": "seq2seq"})
    return tmp_path / "tiny"


def test_analysis_end_to_end_batched_equals_one_by_one(tmp_path):
    path = tiny_checkpoint(tmp_path)
    b = engine.load(path)
    inp = ex.make_inputs(b, 40)
    batched = ex.tf_fr_pass(b.model, inp, batch_size=40)
    single = ex.tf_fr_pass(b.model, inp, batch_size=1)
    for k in batched:
        assert torch.allclose(batched[k].double(), single[k].double(), atol=1e-5, equal_nan=True), k
    res = ex.analyze(path, n=40, n_boot=30)
    again = ex.analyze(path, n=40, n_boot=30)
    res.pop("seconds"), again.pop("seconds")
    assert res == again                                          # reproducible for a seed
    per = res["per_position"]
    assert len(per["tf_error"]) == len(per["fr_error"]) == len(per["examples"])
    assert all(lo <= m <= hi for lo, m, hi in zip(per["tf_nll_lo"], per["tf_nll"], per["tf_nll_hi"]))
    assert 0.0 <= res["sequence"]["fr_exact_match"] <= 1.0 and res["calibration"]["tf_bins"]
    assert res["recovery"]["examples"] > 0 and res["recovery"]["steps"]
    assert res["compounding"]["steps"] == len(res["compounding"]["measured_cumulative_gap"])
    json.dumps(res)


def test_free_running_pass_is_the_rollout(tmp_path):
    """The FR pass is engine.rollout's greedy run (special-token rule included), and a row's values
    after its <eos> are NaN, so that batched and one-by-one agree whatever the lengths."""
    b = engine.load(tiny_checkpoint(tmp_path))
    inp = ex.make_inputs(b, 30)
    with torch.no_grad():
        b.model.out.bias[2] += 3.0                      # <eos> likely: rows end at different steps
        r = ex.tf_fr_pass(b.model, inp, batch_size=30)
        fr = rollout(b.model, b.tokenizer, src=inp.src, src_mask=inp.smask, max_new=r["fr_tok"].shape[1])
    n = fr.tokens.shape[1]
    assert torch.equal(r["fr_tok"][:, :n], fr.tokens) and bool((r["fr_tok"][:, n:] == 0).all())
    assert not torch.isin(r["fr_tok"], torch.tensor(never_emit_ids(b.tokenizer)[1:])).any()   # <pad> = ended
    ended = torch.cumsum((r["fr_tok"] == 2).long(), 1) - (r["fr_tok"] == 2).long() > 0
    assert ended.any() and bool(r["fr_lp"][ended].isnan().all()) and bool(r["drift"][ended].isnan().all())
    assert not r["fr_lp"][~ended].isnan().any()
    single = ex.tf_fr_pass(b.model, inp, batch_size=1)
    for k in r:
        assert torch.allclose(r[k].double(), single[k].double(), atol=1e-5, equal_nan=True), k


def test_recovery_injects_the_best_wrong_token(tmp_path):
    b = engine.load(tiny_checkpoint(tmp_path))
    inp = ex.make_inputs(b, 30)
    res = ex.recovery(b.model, inp, t0=1, horizon=4)
    assert res["examples"] > 0 and 1 <= len(res["steps"]) <= 4
    for s in res["steps"]:
        assert 0 <= s["injected_matches_gold"] <= 1 and 0 <= s["uninjected_all_correct_from_here"] <= 1
    assert ex.recovery(b.model, inp, t0=1, horizon=4, batch_size=7) == res      # batching changes nothing


def test_masks_on_path_and_left():
    r = {"gold": torch.tensor([[5, 6, 7, 2], [5, 6, 2, 0]]), "fr_tok": torch.tensor([[5, 9, 7, 2], [5, 6, 2, 0]])}
    m = ex.masks(r)
    assert m["on_path"].tolist() == [[True, True, False, False], [True, True, True, False]]
    assert m["left"].tolist() == [[False, True, False, False], [False, False, False, False]]
    assert m["valid_fr"].tolist() == [[True, True, True, True], [True, True, True, False]]


def test_cli_parser():
    import argparse
    p = argparse.ArgumentParser()
    add_parsers(p.add_subparsers(dest="command"))
    a = p.parse_args(["exposure", "--model", "m", "--n", "5", "--json"])
    assert (a.command, a.model, a.n, a.seed, a.t0, a.bootstrap, a.threads, a.json, a.out) == \
        ("exposure", "m", 5, 0, 1, 200, 1, True, None)


def test_cli(tmp_path):
    path = tiny_checkpoint(tmp_path)
    out = tmp_path / "res.json"
    p = subprocess.run([sys.executable, "-m", "engine", "exposure", "--model", str(path), "--n", "20", "--bootstrap",
                        "10", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "exact match" in p.stdout and json.loads(out.read_text())["examples"] == 20
    p = subprocess.run([sys.executable, "-m", "engine", "exposure", "--model", "no-such-model"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1
