"""engine.experiments.verdict: the outcome follows from the interval alone."""
import math

import pytest

from engine.experiments.verdict import OUTCOMES, SEEDS, Verdict, decide, make_verdict


def test_decide():
    assert decide(0.01, 0.2) == "agrees"
    assert decide(-0.3, -0.001) == "disagrees"
    assert decide(-0.1, 0.1) == "inconclusive"
    assert decide(0.0, 0.1) == "inconclusive"          # touching no effect is not agreement
    assert decide(-0.1, 0.0) == "inconclusive"
    assert decide(float("nan"), float("nan")) == "inconclusive"
    with pytest.raises(ValueError):
        decide(0.2, 0.1)
    assert OUTCOMES == ("agrees", "disagrees", "inconclusive")
    assert len(SEEDS["quick"]) >= 2 and len(SEEDS["full"]) > len(SEEDS["quick"])


def test_make_verdict():
    v = make_verdict(prediction="p", test="t", estimate=0.1, lo=-0.05, hi=0.2, text="x", p=0.3, n=10)
    assert isinstance(v, Verdict) and v.outcome == "inconclusive" and (v.p, v.n) == (0.3, 10)
    assert make_verdict(prediction="p", test="t", estimate=1, lo=0.5, hi=2, text="x").outcome == "agrees"
    with pytest.raises(Exception):
        v.outcome = "agrees"                             # frozen
    assert math.isnan(make_verdict(prediction="", test="", estimate=float("nan"), lo=float("nan"),
                                   hi=float("nan"), text="").estimate)
