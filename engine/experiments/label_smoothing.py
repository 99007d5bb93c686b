"""Experiment 5: label smoothing and temperature scaling on an over-confident base.

An attentive GRU learns 1- to 3-digit sums from only TRAIN_EXAMPLES examples for many epochs, so it
over-fits and becomes over-confident on held-out sums (its confidence above its accuracy). Per seed
three predictors are compared on the same test sums, token by token under teacher forcing: the base,
the base with temperature scaling (Guo et al., 2017: one T fitted on the validation split by NLL,
engine/experiments/temperature.py) and a model trained the same way with label smoothing α = ALPHA
(Szegedy et al., 2016; Müller et al., 2019). Calibration is the expected calibration error (10
equal-width bins) with a bootstrap interval over test examples; accuracy is per token.

Declared test: ECE(base) − ECE(smoothed), paired by seed (same data, initialisation and test sums),
Student t 95% interval over seeds; > 0 means smoothing lowers the calibration error, as predicted.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from .. import stats
from ..batching import seq2seq_tensors
from ..exposure.stats import rounded
from ..tasks import get_task
from ..tokenizer import PAD
from ..training import fit
from .registry import experiment
from .temperature import fit_temperature
from .verdict import make_verdict

TASK, TRAIN_EXAMPLES, ALPHA, BINS = "addition3", 500, 0.1, 10
MODEL = {"d_emb": 32, "d_hidden": 64, "d_attn": 32, "dropout": 0.0, "max_len": 24}


def budget(quick: bool) -> tuple[int, int, int]:
    """(training steps, validation sums for T, test sums)."""
    return (400, 300, 500) if quick else (500, 500, 1000)


def train_one(alpha: float, steps: int, seed: int):
    return fit({"name": f"ls-{alpha}", "task": TASK, "arch": "gru-attn", "model": MODEL, "steps": steps,
                "label_smoothing": alpha, "weight_decay": 0.0,
                "data_sizes": {"train": TRAIN_EXAMPLES, "valid": 10, "test": 10}}, seed=seed)


@torch.no_grad()
def token_logits(bundle, pairs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Teacher-forced logits [M, V] of every target token (EOS included), its gold id [M] and the index
    of its example [M]."""
    src, smask, tin, tout = seq2seq_tensors(bundle.tokenizer, pairs)
    state, _ = bundle.model.start(src, smask)
    logits = bundle.model.decode(tin, state).logits
    valid = tout != PAD
    ex = torch.arange(len(pairs))[:, None].expand_as(tout)
    return logits[valid], tout[valid], ex[valid]


def bin_sums(conf: np.ndarray, correct: np.ndarray, example: np.ndarray, n_examples: int) -> np.ndarray:
    """Per example and confidence bin: [count, sum of confidence, sum of correct] -> [N, BINS, 3]."""
    b = np.clip((conf * BINS).astype(int), 0, BINS - 1)
    out = np.zeros((n_examples, BINS, 3))
    np.add.at(out, (example, b, 0), 1.0)
    np.add.at(out, (example, b, 1), conf)
    np.add.at(out, (example, b, 2), correct)
    return out


def ece_of(sums: np.ndarray) -> float:
    """ECE from summed [.., BINS, 3] bins: sum over bins of |accuracy sum − confidence sum| / tokens."""
    return float(np.abs(sums[..., 2] - sums[..., 1]).sum(-1) / sums[..., 0].sum(-1))


def ece_interval(sums: np.ndarray, seed: int = 0, n_boot: int = stats.N_BOOT) -> tuple[float, float, float]:
    """ECE with a 95% percentile bootstrap interval over examples (their tokens resampled together)."""
    rng = np.random.default_rng(seed)
    n = sums.shape[0]
    boots = np.empty(n_boot)
    for i in range(0, n_boot, 200):
        m = min(200, n_boot - i)
        s = sums[rng.integers(0, n, size=(m, n))].sum(1)                      # [m, BINS, 3]
        boots[i:i + m] = np.abs(s[..., 2] - s[..., 1]).sum(-1) / s[..., 0].sum(-1)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return ece_of(sums.sum(0)), float(lo), float(hi)


def score(logits: torch.Tensor, gold: torch.Tensor, example: torch.Tensor, n_examples: int, temperature: float,
          seed: int) -> dict:
    """ECE (with its interval), accuracy, mean confidence, NLL and the reliability bins at this temperature."""
    p = (logits.double() / temperature).softmax(-1)
    conf, arg = p.max(-1)
    correct = (arg == gold).double()
    sums = bin_sums(conf.numpy(), correct.numpy(), example.numpy(), n_examples)
    e, lo, hi = ece_interval(sums, seed)
    tot = sums.sum(0)
    bins = [{"lo": i / BINS, "hi": (i + 1) / BINS, "count": int(tot[i, 0]),
             "confidence": rounded(tot[i, 1] / tot[i, 0]) if tot[i, 0] else None,
             "accuracy": rounded(tot[i, 2] / tot[i, 0]) if tot[i, 0] else None} for i in range(BINS)]
    nll = float(-p.gather(1, gold[:, None]).clamp_min(1e-300).log().mean())
    return {"ece": rounded(e), "ece_lo": rounded(lo), "ece_hi": rounded(hi), "accuracy": rounded(float(correct.mean())),
            "confidence": rounded(float(conf.mean())), "nll": rounded(nll), "tokens": int(len(gold)), "bins": bins}


CONDITIONS = ("base", "base + T", "smoothed")


@experiment("label-smoothing", "Label smoothing and temperature scaling on an over-confident model",
            "A network trained on hard targets until it over-fits becomes over-confident; label smoothing (Szegedy "
            "et al., 2016) lowers that over-confidence and so the expected calibration error (Müller et al., 2019), "
            "and temperature scaling fitted on held-out data (Guo et al., 2017) does the same after training "
            "without changing any prediction. Here a GRU over-fits 500 sums, and is compared with itself "
            "temperature-scaled and with a label-smoothed twin (α = 0.1), over several seeds.")
def label_smoothing(quick: bool, seeds: tuple[int, ...], progress) -> tuple[dict, object]:
    steps, n_valid, n_test = budget(quick)
    task = get_task(TASK)
    runs = []
    for seed in seeds:
        split = task.splits(seed=seed, sizes={"train": 0, "valid": n_valid, "test": n_test})
        valid = [(e.src, e.tgt) for e in split["valid"]]
        test = [(e.src, e.tgt) for e in split["test"]]
        run = {"seed": seed}
        for alpha, name in ((0.0, "base"), (ALPHA, "smoothed")):
            progress(f"seed {seed}: training {name} (α = {alpha}, {steps} steps)")
            t = time.time()
            b = train_one(alpha, steps, seed)
            lg, gold, ex = token_logits(b, test)
            run[name] = score(lg, gold, ex, len(test), 1.0, seed)
            if name == "base":
                vl, vg, _ = token_logits(b, valid)
                temp = fit_temperature(vl, vg)
                run["temperature"] = rounded(temp, 4)
                run["base + T"] = score(lg, gold, ex, len(test), temp, seed)
            run[name]["seconds"] = round(time.time() - t, 1)
        runs.append(run)

    def col(cond, key):
        return [r[cond][key] for r in runs]

    def diff(a, b, key="ece"):          # per seed a − b, with a t interval over seeds
        return stats.t_interval(np.array(col(a, key), dtype=float) - np.array(col(b, key), dtype=float))

    est, lo, hi = diff("base", "smoothed")
    summary = {c: {k: [rounded(v, 5) for v in stats.t_interval(col(c, k))] for k in ("ece", "accuracy", "confidence", "nll")}
               for c in CONDITIONS}
    over = stats.t_interval(np.array(col("base", "confidence")) - np.array(col("base", "accuracy")))
    ts_gain = diff("base", "base + T")
    ls_vs_ts = diff("smoothed", "base + T")
    acc_cost = diff("base", "smoothed", "accuracy")
    data = {"task": TASK, "train_examples": TRAIN_EXAMPLES, "alpha": ALPHA, "steps": steps, "model": MODEL,
            "valid_examples": n_valid, "test_examples": n_test, "seeds": list(seeds), "conditions": list(CONDITIONS),
            "runs": runs, "summary": summary,
            "base_overconfidence": [rounded(v) for v in over],
            "ece_base_minus_smoothed": [rounded(v) for v in (est, lo, hi)],
            "ece_base_minus_scaled": [rounded(v) for v in ts_gain],
            "ece_smoothed_minus_scaled": [rounded(v) for v in ls_vs_ts],
            "accuracy_base_minus_smoothed": [rounded(v) for v in acc_cost]}
    m = {c: summary[c]["ece"][0] for c in CONDITIONS}
    text = (f"mean ECE over {len(seeds)} seeds: base {m['base']:.4f}, base + T {m['base + T']:.4f} (T fitted on "
            f"{n_valid} validation sums, mean T {np.mean([r['temperature'] for r in runs]):.2f}), smoothed "
            f"{m['smoothed']:.4f}; the base is "
            + (f"over-confident by {over[0]:.4f} [{over[1]:.4f}, {over[2]:.4f}] (confidence − accuracy)"
               if over[1] > 0 else f"over-confident by {over[0]:.4f} (one seed: no interval)" if len(runs) < 2
               else f"not clearly over-confident (confidence − accuracy {over[0]:+.4f} "
               f"[{over[1]:+.4f}, {over[2]:+.4f}]), so this setup cannot show the effect")
            + f". Smoothing lowers ECE by {est:+.4f} [{lo:+.4f}, {hi:+.4f}]"
            + f"; temperature scaling by {ts_gain[0]:+.4f} [{ts_gain[1]:+.4f}, {ts_gain[2]:+.4f}]; smoothed minus "
            f"scaled ECE {ls_vs_ts[0]:+.4f} [{ls_vs_ts[1]:+.4f}, {ls_vs_ts[2]:+.4f}]; token accuracy base − smoothed "
            f"{acc_cost[0]:+.4f} [{acc_cost[1]:+.4f}, {acc_cost[2]:+.4f}].")
    verdict = make_verdict(
        prediction="on an over-confident base, label smoothing lowers the expected calibration error",
        test=(f"ECE(base) − ECE(smoothed, α = {ALPHA}) on {n_test} test sums (teacher-forced tokens, {BINS} bins), "
              f"paired by seed; Student t 95% interval over {len(seeds)} seeds"),
        estimate=est, lo=lo, hi=hi, text=text, n=len(seeds) * n_test)
    return data, verdict
