"""The redesigned lab setups of issue 11 (recovery, label-smoothing, bpe-vocab, tbptt): their building
blocks against known answers, a tiny run of each (2 seeds, a few training steps) for the result's shape,
its declared verdict and strict JSON, and their charts plotting the result's numbers."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from engine.experiments import registry
from engine.experiments import bpe_vocab, label_smoothing, recovery, tbptt
from engine.experiments.plain_bpe import plain_bpe
from engine.experiments.temperature import fit_temperature, nll_at
from engine.tasks import TASKS, get_task

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# -- building blocks -----------------------------------------------------------------------------------

def test_temperature_scaling_recovers_a_known_temperature():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4000, 6, generator=g) * 3
    targets = torch.multinomial((logits / 2.5).softmax(-1), 1, generator=g).squeeze(1)
    t = fit_temperature(logits, targets)
    assert abs(t - 2.5) < 0.25
    assert nll_at(logits, targets, t) < nll_at(logits, targets, 1.0)
    assert nll_at(logits, targets, t) <= min(nll_at(logits, targets, t * 1.1), nll_at(logits, targets, t / 1.1))


def test_ece_and_its_bootstrap_match_the_lab_formula():
    from engine.exposure.calibration import ece
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.3, 1.0, 900)
    correct = (rng.uniform(size=900) < conf - 0.1).astype(float)          # over-confident by ~0.1
    example = np.repeat(np.arange(300), 3)
    sums = label_smoothing.bin_sums(conf, correct, example, 300)
    e, lo, hi = label_smoothing.ece_interval(sums, n_boot=300)
    assert e == pytest.approx(ece(torch.tensor(conf), torch.tensor(correct))[0], abs=1e-12)
    assert lo <= e <= hi and 0.05 < e < 0.15


def test_plain_bpe_has_no_merge_across_source_and_answer_and_no_marker():
    old = __import__("engine.tokenizer", fromlist=["Tokenizer"]).Tokenizer.train_bpe(["11+22" + "33"] * 50, 30)
    assert any("23" in t for t in old._id_to_token)                          # the confound: a merge across
    tok = plain_bpe(["11+22"] * 50 + ["33"] * 50, 30)
    assert not any("23" in t for t in tok._id_to_token)
    enc = tok.encode("33")
    assert enc.tokens == ["33"] and tok.decode(enc.ids) == "33"              # one token, no word marker
    assert all("\u2581" not in t for t in tok._id_to_token)


def test_recall_task_balanced_and_only_for_the_lab():
    task = get_task("recall")
    assert "recall" not in TASKS
    test = task.splits(seed=0, sizes={"train": 5, "valid": 0, "test": 22})["test"]
    assert [int(e.src) for e in test] == list(range(11)) * 2
    for e in test:
        k = int(e.src)
        assert len(e.tgt) == k + 3 and e.tgt[0] == e.tgt[-1] and e.tgt[-2] == "=" and (k == 0 or e.tgt[1:-2].isdigit())


@pytest.mark.parametrize("window", [2, 3, 4, 8])
def test_in_window_is_where_the_truncated_gradient_reaches_the_key(window):
    """in_window(k, L) says the recall's gradient reaches the key's decoder step: checked against the
    gradient of the training code's truncated decoder (recurrent_logits)."""
    from engine.models import build_model
    from engine.training.scheduled_sampling import recurrent_logits
    torch.manual_seed(0)
    model = build_model("gru-noattn", {"vocab_size": 12, "d_emb": 8, "d_hidden": 8, "max_len": 24})
    key = 11                                                  # used only as the input at step 1
    for k in range(8):
        tin = torch.tensor([[1, key] + [5] * k + [6]])
        state, _ = model.start(torch.tensor([[4]]))
        model.zero_grad()
        logits, _ = recurrent_logits(model, tin, state, 1.0, False, torch.Generator(), window)
        logits[0, k + 2].sum().backward()
        reached = bool(model.emb.weight.grad[key].abs().sum() > 0)
        assert reached == tbptt.in_window(k, window), (k, window)
    assert tbptt.in_window(10, 0)


def test_slope():
    assert bpe_vocab.slope([1, 2, 3, 4], [1.0, 0.5, 0.0, -0.5]) == pytest.approx(-0.5)


# -- tiny runs of the four experiments ---------------------------------------------------------------

TINY = {"recovery": (recovery, (4, 60)), "label-smoothing": (label_smoothing, (4, 40, 60)),
        "bpe-vocab": (bpe_vocab, (4, 60)), "tbptt": (tbptt, (4, 110))}


@pytest.fixture(scope="module")
def tiny_results():
    out = {}
    mp = pytest.MonkeyPatch()
    for name, (mod, budget) in TINY.items():
        mp.setattr(mod, "budget", lambda quick, b=budget: b)
        lines = []
        out[name] = (registry.run_experiment(name, quick=True, seeds=(0, 1), progress=lines.append), lines)
    mp.undo()
    return out


@pytest.mark.parametrize("name", list(TINY))
def test_tiny_run_has_a_declared_verdict_from_its_data(tiny_results, name):
    res, lines = tiny_results[name]
    json.dumps(res, allow_nan=False)                                    # strict JSON (no NaN)
    assert res["seeds"] == [0, 1] and len(lines) >= 2 and all("seed" in line for line in lines)
    assert res["test"] and res["prediction"] and res["verdict"] and res["n"] > 0
    lo, hi = res["lo"], res["hi"]
    assert lo <= res["estimate"] <= hi
    assert res["outcome"] == ("agrees" if lo > 0 else "disagrees" if hi < 0 else "inconclusive")


def test_tiny_tbptt_estimate_is_the_mean_seed_difference(tiny_results):
    d = tiny_results["tbptt"][0]["data"]
    acc = {k: np.array(v) for k, v in d["accuracy"].items()}
    per_seed = []
    for s in range(2):
        diffs = [np.mean([acc["full"][s][g] - acc[f"L={L}"][s][g] for g in d["gaps"] if not tbptt.in_window(g, L)])
                 for L in d["windows"]]
        per_seed.append(np.mean(diffs))
    assert tiny_results["tbptt"][0]["estimate"] == pytest.approx(np.mean(per_seed), abs=1e-9)


def test_tiny_label_smoothing_keeps_accuracy_under_temperature(tiny_results):
    for run in tiny_results["label-smoothing"][0]["data"]["runs"]:
        assert run["base + T"]["accuracy"] == run["base"]["accuracy"]      # T never changes the argmax
        assert run["temperature"] > 0


# -- charts --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(TINY))
def test_setup_charts_plot_the_result(tiny_results, name):
    from dashboard.charts.lab_setups import FIGURES
    res = tiny_results[name][0]
    figs = FIGURES[name](res)
    assert len(figs) >= 2 and all(len(f.data) > 0 for f in figs)
    eff = figs[-1]                                                        # the verdict's effect
    assert eff.data[0].x[0] == pytest.approx(res["estimate"])
    assert res["outcome"] in eff.layout.title.text
    d = res["data"]
    if name == "tbptt":
        full = next(t for t in figs[0].data if t.name == "full")
        assert list(full.y) == pytest.approx(d["curves"]["full"]["mean"])
    elif name == "recovery":
        tr = next(t for t in figs[0].data if t.name == "TF, injected at t0=0")
        assert list(tr.customdata) == [r["n"] for r in d["curves"]["TF"]["t0=0"]]
    elif name == "label-smoothing":
        base = next(t for t in figs[0].data if t.name == "base")
        assert base.y[0] == pytest.approx(d["summary"]["base"]["ece"][0])
    else:
        mean = next(t for t in figs[0].data if t.name and t.name.startswith("mean"))
        assert list(mean.x) == d["vocab_sizes"]
        assert list(mean.y) == pytest.approx([d["summary"][v]["sequence_error"][0] for v in d["vocabularies"]])
    assert all(not (isinstance(v, float) and math.isnan(v)) for f in figs for t in f.data for v in (t.y or []) if v is not None)


def test_bpe_chart_says_when_every_vocabulary_is_at_the_floor(tiny_results):
    import copy
    from dashboard.charts.lab_setups import FIGURES
    res = copy.deepcopy(tiny_results["bpe-vocab"][0])
    for v in res["data"]["vocabularies"]:
        res["data"]["summary"][v]["sequence_error"] = [0.95, 0.9, 1.0]
    assert "near the floor" in FIGURES["bpe-vocab"](res)[0].layout.title.text
    res["data"]["summary"][res["data"]["vocabularies"][0]]["sequence_error"] = [0.5, 0.4, 0.6]
    assert "near the floor" not in FIGURES["bpe-vocab"](res)[0].layout.title.text
