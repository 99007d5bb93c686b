"""Experiment 7: the truncated-BPTT window of small GRU adders vs a long-range dependency."""
from __future__ import annotations

from .registry import experiment
from .small_models import SMALL_TASK, small_budget, train_and_score


@experiment("tbptt", "Truncated-BPTT window vs a long-range dependency",
            "The sources note that truncating backpropagation to a window of L steps makes a recurrent model blind "
            "to causes more than L steps back, so positions that depend on far-away context should suffer first. "
            "Here small GRU adders of 1- to 4-digit numbers (whose later digits depend on the carry chain and on "
            "the position reached) are trained for 1000 steps with decoder windows L = 1, 2, 4 and full "
            "backpropagation.")
def tbptt(quick: bool, seed: int):
    steps, n = small_budget(quick)
    out = {}
    for L in (1, 2, 4, 0):
        out["full" if L == 0 else f"L={L}"] = train_and_score(f"tbptt-{L}", quick, steps, n, seed, tbptt=L)[1]
    em = {k: v["fr_exact_match"] for k, v in out.items()}
    agrees = em["L=1"] <= em["full"] if max(em.values()) > min(em.values()) else None

    def late(k):
        e = [x for x in out[k]["per_position_tf_error"][3:] if x is not None]
        return sum(e) / len(e) if e else float("nan")

    verdict = ("free-running exact match: " + ", ".join(f"{k} {v:.3f}" for k, v in em.items())
               + f"; mean TF error from position 4 on: L=1 {late('L=1'):.3f}, full {late('full'):.3f}: "
               + ("inconclusive (all windows score the same)." if agrees is None else
                  "agrees (the shortest window is no better than full backpropagation)." if agrees
                  else "does not agree on this budget."))
    return {"task": SMALL_TASK, "steps": steps, "examples": n, "models": out}, agrees, verdict
