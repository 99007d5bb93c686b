"""Experiment 2: scheduled-sampling schedules compared on small GRU adders, k training seeds per
schedule, each decaying schedule paired by seed with always-gold (same initialisation, data order and
test sample)."""
from __future__ import annotations

import math

import numpy as np

from ..stats import t_interval
from .registry import experiment
from ..training import TrainConfig
from ..training import fit
from .small_models import SMALL_TASK, small_budget, small_config
from .verdict import make_verdict

DECAYS = ("linear", "exponential", "inverse-sigmoid")
PREDICTION = ("A decaying schedule (linear, exponential or inverse sigmoid) beats always feeding gold tokens on "
              "free-running exact match; always feeding the model's own tokens from the start trains worst.")


def _inverse_sigmoid_k(steps: int, target: float) -> float:
    """k with k / (k + exp(steps / k)) = target (bisection; the value decreases as k decreases)."""
    lo, hi = 1.0, float(steps)
    for _ in range(60):
        mid = (lo + hi) / 2
        if mid / (mid + math.exp(min(700.0, steps / mid))) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def schedules(steps: int, final: float = 0.25) -> dict:
    """The training options of each schedule: the decays reach `final` (gold-token probability) at the end."""
    return {
        "always-gold": {"ss_schedule": "constant", "ss_k": 1.0},
        "linear": {"ss_schedule": "linear", "ss_k": 1.0, "ss_c": (1 - final) / steps, "ss_eps_min": final},
        "exponential": {"ss_schedule": "exponential", "ss_k": final ** (1 / steps)},
        "inverse-sigmoid": {"ss_schedule": "inverse_sigmoid", "ss_k": _inverse_sigmoid_k(steps, final)},
        "always-sampled": {"ss_schedule": "constant", "ss_k": 0.0},
    }


def train_and_score(name: str, quick: bool, steps: int, n: int, seed: int, **opts) -> dict:
    """A small GRU trained with these options (seed: initialisation and data order) and scored on the n
    test sums of this seed: free-running exact match and per-position TF / FR token error (no bootstrap
    here: the test is over seeds)."""
    import time

    from ..exposure.passes import make_inputs, masks, tf_fr_pass
    t = time.time()
    b = fit({**small_config(name, quick, **opts), "steps": steps}, seed=seed)
    inp = make_inputs(b, n, seed=seed)
    r = tf_fr_pass(b.model, inp)
    gold, valid = r["gold"], masks(r)["valid"]
    keep = int(valid.sum(0).gt(0).sum())
    v = valid[:, :keep].sum(0).clamp(min=1)
    per = {k: (((r[src] != gold) & valid)[:, :keep].sum(0) / v).tolist()
           for k, src in (("per_position_tf_error", "tf_arg"), ("per_position_fr_error", "fr_tok"))}
    preds = [b.tokenizer.decode(row) for row in r["fr_tok"].tolist()]
    em = sum(p == ref for p, ref in zip(preds, inp.refs)) / len(preds)
    return {"fr_exact_match": em, **per, "examples_per_position": valid[:, :keep].sum(0).tolist(),
            "seconds": round(time.time() - t, 1)}


def _interval(values) -> dict:
    m, lo, hi = t_interval(values)
    return {"mean": m, "lo": lo if math.isfinite(lo) else None, "hi": hi if math.isfinite(hi) else None}


@experiment("ss-schedules", "Scheduled-sampling schedules compared (plus always-gold and always-sampled)",
            "Bengio et al. (2015) found that decaying the gold-token probability (linear, exponential or inverse "
            "sigmoid) beats always feeding gold tokens, while always feeding the model's own tokens from the "
            "start trains poorly. Here small GRUs learn addition of 1- to 4-digit numbers with each schedule on "
            "the same budget (1000 steps, where teacher forcing reaches about half the sums), once per training "
            "seed, and are scored by free-running exact match.")
def ss_schedules(quick: bool, seeds: tuple, progress):
    steps, n = small_budget(quick)
    final = 0.25
    scheds = schedules(steps, final)
    runs = {name: [] for name in scheds}                 # per schedule: one score dict per seed
    for s in seeds:
        progress(f"ss-schedules: seed {s} ({len(scheds)} schedules x {steps} steps, {n} test sums)")
        for name, opts in scheds.items():
            sc = train_and_score(name, quick, steps, n, s, **opts)
            runs[name].append({**sc, "seed": s})
    em = {name: np.array([r["fr_exact_match"] for r in rs]) for name, rs in runs.items()}
    # the declared test: per seed, the mean exact match of the three decays minus always-gold's
    diff = np.mean([em[d] for d in DECAYS], axis=0) - em["always-gold"]
    est, lo, hi = t_interval(diff)
    versus_gold = {name: {"differences": (em[name] - em["always-gold"]).tolist(),
                          **_interval(em[name] - em["always-gold"])} for name in scheds if name != "always-gold"}
    models = {name: {"exact_match_per_seed": em[name].tolist(), **_interval(em[name]), "schedule": scheds[name],
                     "per_position_tf_error": rs[0]["per_position_tf_error"],
                     "per_position_fr_error": rs[0]["per_position_fr_error"],
                     "fr_exact_match": float(em[name].mean()),
                     "seconds": round(sum(r["seconds"] for r in rs), 1)} for name, rs in runs.items()}
    spread = float(max(em["always-gold"]) - min(em["always-gold"])) if len(seeds) > 1 else 0.0
    k = len(seeds)
    budget_note = ("" if math.isnan(lo) or lo > 0 or hi < 0 else
                   f" The interval includes no effect: on this budget ({steps} steps, {k} seeds) the setup cannot show "
                   f"whether decaying schedules help; always-gold alone moves by {spread:.3f} between seeds.")
    text = ("Free-running exact match, mean over seeds: " + ", ".join(f"{m} {em[m].mean():.3f}" for m in scheds)
            + f". Decays minus always-gold, paired by seed: {est:+.3f} [{lo:+.3f}, {hi:+.3f}]; per decay: "
            + ", ".join(f"{d} {versus_gold[d]['mean']:+.3f}" for d in DECAYS)
            + f"; always-sampled {versus_gold['always-sampled']['mean']:+.3f}." + budget_note)
    verdict = make_verdict(
        prediction=PREDICTION,
        test=(f"per training seed, mean free-running exact match of the three decays minus always-gold's (same "
              f"initialisation, data order and {n} test sums); Student t 95% interval over {k} seeds"),
        estimate=est, lo=lo, hi=hi, text=text, n=k)
    fed = getattr(TrainConfig.from_dict(small_config("x", quick, **scheds["linear"], steps=steps)), "ss_sample", False)
    data = {"task": SMALL_TASK, "steps": steps, "examples": n, "final_eps": final, "seeds": list(seeds),
            "fed_tokens": "a sample of the model's distribution" if fed else "the model's argmax",
            "decays_minus_gold_per_seed": diff.tolist(), "versus_gold": versus_gold, "models": models}
    return data, verdict
