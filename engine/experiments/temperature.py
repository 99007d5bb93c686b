"""Temperature scaling (Guo et al., 2017): one scalar T for all logits, fitted on a validation split by
negative log-likelihood; softmax(logits / T) keeps every argmax (accuracy is unchanged) and only moves
the confidence. NLL is convex in 1 / T, so a golden-section search over 1 / T finds its minimum."""
from __future__ import annotations

import math

import torch
from torch import Tensor

T_RANGE = (0.05, 20.0)          # the temperatures searched


def nll_at(logits: Tensor, targets: Tensor, temperature: float) -> float:
    """Mean NLL of the targets under softmax(logits / temperature); logits [N, V], targets [N]."""
    lp = (logits.double() / temperature).log_softmax(-1)
    return float(-lp.gather(1, targets[:, None]).mean())


def fit_temperature(logits: Tensor, targets: Tensor, iters: int = 80) -> float:
    """The T in T_RANGE that minimises the mean NLL of the targets (golden section over 1 / T)."""
    if logits.shape[0] == 0:
        raise ValueError("fit_temperature needs at least one target")
    lo, hi = 1 / T_RANGE[1], 1 / T_RANGE[0]
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = nll_at(logits, targets, 1 / a), nll_at(logits, targets, 1 / b)
    for _ in range(iters):
        if fa < fb:                         # minimum in [lo, b]
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = nll_at(logits, targets, 1 / a)
        else:                               # minimum in [a, hi]
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = nll_at(logits, targets, 1 / b)
    return 1 / ((lo + hi) / 2)
