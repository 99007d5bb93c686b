"""Scheduled-sampling decays (Bengio et al., 2015, "Scheduled Sampling for Sequence Prediction with
Recurrent Neural Networks", section 2.4) and the length curriculum, as pure functions of the step.

eps_i is the probability of feeding the *gold* token at training step i (one coin per token):

    linear            eps_i = max(eps_min, k - c * i)           (0 <= eps_min < 1, k <= 1, c > 0)
    exponential       eps_i = k ** i                             (k < 1)
    inverse sigmoid   eps_i = k / (k + exp(i / k))               (k >= 1)
    constant          eps_i = k                                  (always-gold: k = 1; always-sampled: k = 0)

eps = 1 is plain teacher forcing; eps = 0 feeds the model's own tokens everywhere.
"""
from __future__ import annotations

import math
from typing import Callable

SCHEDULES = ("none", "constant", "linear", "exponential", "inverse_sigmoid")


def linear(i: int, k: float = 1.0, c: float = 1e-4, eps_min: float = 0.0) -> float:
    """eps_i = max(eps_min, k - c * i)."""
    return max(eps_min, k - c * i)


def exponential(i: int, k: float = 0.999) -> float:
    """eps_i = k ** i (k < 1)."""
    return k ** i


def inverse_sigmoid(i: int, k: float = 500.0) -> float:
    """eps_i = k / (k + exp(i / k)) (k >= 1). Computed without overflow for large i / k."""
    z = i / k
    if z > 700:                       # exp would overflow; k / (k + huge) -> 0
        return 0.0
    return k / (k + math.exp(z))


def constant(i: int, k: float = 1.0) -> float:
    return k


def validate(name: str, k: float | None = None, c: float | None = None, eps_min: float = 0.0) -> None:
    """Raise ValueError with one line if the schedule's parameters are outside their ranges."""
    if name not in SCHEDULES:
        raise ValueError(f"unknown scheduled-sampling schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
    if not 0.0 <= eps_min <= 1.0:
        raise ValueError(f"ss_eps_min must be in [0, 1], got {eps_min}")
    if name == "constant" and k is not None and not 0.0 <= k <= 1.0:
        raise ValueError(f"a constant schedule needs 0 <= k <= 1 (the gold-token probability), got {k}")
    if name == "linear":
        if k is not None and not 0.0 <= k <= 1.0:
            raise ValueError(f"the linear schedule needs 0 <= k <= 1, got {k}")
        if c is not None and c < 0:
            raise ValueError(f"the linear schedule needs c >= 0, got {c}")
    if name == "exponential" and k is not None and not 0.0 < k <= 1.0:
        raise ValueError(f"the exponential schedule needs 0 < k <= 1, got {k}")
    if name == "inverse_sigmoid" and k is not None and k < 1.0:
        raise ValueError(f"the inverse-sigmoid schedule needs k >= 1, got {k}")


def make_schedule(name: str, k: float | None = None, c: float | None = None,
                  eps_min: float = 0.0) -> Callable[[int], float]:
    """eps(i) for a schedule name; "none" is plain teacher forcing (eps = 1 at every step)."""
    validate(name, k, c, eps_min)
    if name == "none":
        return lambda i: 1.0
    if name == "constant":
        kk = 1.0 if k is None else k
        return lambda i: constant(i, kk)
    if name == "linear":
        kk, cc = (1.0 if k is None else k), (1e-4 if c is None else c)
        return lambda i: linear(i, kk, cc, eps_min)
    if name == "exponential":
        kk = 0.999 if k is None else k
        return lambda i: exponential(i, kk)
    kk = 500.0 if k is None else k
    return lambda i: inverse_sigmoid(i, kk)


def curriculum_length(i: int, steps: int, start: int, full: int) -> int:
    """Curriculum over sequence length: the longest length allowed at step i grows linearly from
    `start` (step 0) to `full` (step `steps` and after); `steps` <= 0 turns the curriculum off."""
    if steps <= 0 or i >= steps:
        return full
    return max(1, min(full, int(round(start + (full - start) * i / steps))))
