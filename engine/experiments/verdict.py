"""The verdict of an experiment, decided from data only (torch-free).

Each experiment declares one test (what is compared, paired over what, which interval, how many
seeds / resamples) and reports the effect signed so that > 0 is what the literature predicts, with
its 95% interval. The outcome follows from the interval alone: it *agrees* when the whole interval is
above 0, *disagrees* when it is below 0, and is *inconclusive* when the interval includes no effect.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

OUTCOMES = ("agrees", "disagrees", "inconclusive")
SEEDS = {"quick": (0, 1, 2), "full": (0, 1, 2, 3, 4)}
INCONCLUSIVE_MEANS = "the interval includes no effect"


@dataclass(frozen=True)
class Verdict:
    outcome: str                 # one of OUTCOMES (decide(lo, hi))
    test: str                    # the declared test, one line
    estimate: float              # the effect, > 0 = as the literature predicts
    lo: float                    # its 95% interval
    hi: float
    prediction: str              # what the literature predicts, one sentence
    text: str                    # the data-dependent sentence shown on the page
    p: Optional[float] = None    # a p-value where the test has one (e.g. McNemar)
    n: Optional[int] = None      # examples (or prompts, seeds x examples) behind the estimate


def decide(lo: float, hi: float) -> str:
    """lo > 0 -> "agrees"; hi < 0 -> "disagrees"; else (including nan bounds) "inconclusive"."""
    lo, hi = float(lo), float(hi)
    if not (math.isnan(lo) or math.isnan(hi)) and lo > hi:
        raise ValueError(f"decide: lo {lo} > hi {hi}")
    if lo > 0:
        return "agrees"
    if hi < 0:
        return "disagrees"
    return "inconclusive"


def make_verdict(*, prediction: str, test: str, estimate: float, lo: float, hi: float, text: str,
                 p: Optional[float] = None, n: Optional[int] = None) -> Verdict:
    """A Verdict whose outcome is decide(lo, hi)."""
    return Verdict(outcome=decide(lo, hi), test=test, estimate=float(estimate), lo=float(lo), hi=float(hi),
                   prediction=prediction, text=text, p=None if p is None else float(p),
                   n=None if n is None else int(n))
