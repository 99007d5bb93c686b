"""Experiment 2: scheduled-sampling schedules compared on small GRU adders."""
from __future__ import annotations

import math

from .registry import experiment
from .small_models import SMALL_TASK, small_budget, train_and_score


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


@experiment("ss-schedules", "Scheduled-sampling schedules compared (plus always-gold and always-sampled)",
            "Bengio et al. (2015) found that decaying the gold-token probability (linear, exponential or inverse "
            "sigmoid) beats always feeding gold tokens, while always feeding the model's own tokens from the "
            "start trains poorly. Here small GRUs learn addition of 1- to 4-digit numbers with each schedule on "
            "the same budget (1000 steps, where teacher forcing reaches about half the sums) and are scored by "
            "free-running exact match.")
def ss_schedules(quick: bool, seed: int):
    steps, n = small_budget(quick)
    final = 0.25
    schedules = {
        "always-gold": {"ss_schedule": "constant", "ss_k": 1.0},
        "linear": {"ss_schedule": "linear", "ss_k": 1.0, "ss_c": (1 - final) / steps, "ss_eps_min": final},
        "exponential": {"ss_schedule": "exponential", "ss_k": final ** (1 / steps)},
        "inverse-sigmoid": {"ss_schedule": "inverse_sigmoid", "ss_k": _inverse_sigmoid_k(steps, final)},
        "always-sampled": {"ss_schedule": "constant", "ss_k": 0.0},
    }
    out = {}
    for name, opts in schedules.items():
        _, sc = train_and_score(name, quick, steps, n, seed, **opts)
        out[name] = {**sc, "schedule": opts}
    em = {k: v["fr_exact_match"] for k, v in out.items()}
    best_decay = max(em[k] for k in ("linear", "exponential", "inverse-sigmoid"))
    agrees = em["always-sampled"] <= min(em.values()) and best_decay >= em["always-gold"]
    if max(em.values()) == min(em.values()):
        agrees = None
    verdict = ("free-running exact match: " + ", ".join(f"{k} {v:.3f}" for k, v in em.items()) + "; "
               + ("inconclusive (every schedule scores the same on this budget)." if agrees is None else
                  "agrees (a decaying schedule is at least as good as always-gold, always-sampled is worst)."
                  if agrees else "does not agree with that ordering on this budget."))
    return {"task": SMALL_TASK, "steps": steps, "examples": n, "final_eps": final, "models": out}, agrees, verdict
