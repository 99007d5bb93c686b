"""Masked means, per-position intervals and the rounding of every reported figure.

The interval formulas themselves live in engine/stats.py (the one home of interval and test formulas);
this file applies them to the lab's [examples, positions] arrays:
- proportions (token error at a position, exact match): Wilson intervals (engine.stats.wilson), so a
  position with no error gets [0, hi] with hi > 0, never the [0, 0] of a bootstrap;
- means (NLL at a position): a percentile bootstrap over examples with engine.stats.N_BOOT resamples;
  a resample in which a position has no valid example gives no value there (it is left out of the
  quantiles, never counted as 0), and a position with no valid example at all has no mean (NaN).
Positions with fewer than SMALL_N examples are marked on the charts (dashboard/charts/exposure.py).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from ..stats import N_BOOT, bootstrap_ci, wilson

SMALL_N = 30                    # a per-position figure over fewer examples is marked "small n" on the charts
_CELLS = 4_000_000              # resample weights held in memory at once (resamples x examples)


def masked_mean(x: Tensor, m: Tensor, dim=0) -> Tensor:
    """Mean of x where m, along dim (0 where m has no element: callers mask such positions)."""
    x = torch.where(m, x.double(), torch.zeros((), dtype=torch.float64))
    return x.sum(dim) / m.sum(dim).clamp(min=1)


def resample_weights(n: int, n_boot: int, seed: int):
    """Chunks of bootstrap resamples as count matrices W [b, n] (W[r, i] = times example i is drawn in
    resample r): resampled sums are then W @ values. Deterministic for a seed."""
    g = torch.Generator().manual_seed(seed)
    rows = max(1, _CELLS // max(n, 1))
    for start in range(0, n_boot, rows):
        b = min(rows, n_boot - start)
        idx = torch.randint(n, (b, n), generator=g)
        yield torch.zeros(b, n, dtype=torch.float64).scatter_add_(1, idx, torch.ones(b, n, dtype=torch.float64))


def bootstrap_positions(x: Tensor, m: Tensor, n_boot: int = N_BOOT, seed: int = 0, q=(0.025, 0.975)) -> tuple:
    """Per-position mean of x over examples (mask m) with a 95% percentile bootstrap band over examples.
    NaN-aware: a resample with no valid example at a position is skipped there; a position without
    any valid example has mean and band NaN."""
    xs = torch.where(m, x.double(), torch.zeros((), dtype=torch.float64))
    ms = m.double()
    count = ms.sum(0)
    mean = torch.where(count > 0, xs.sum(0) / count.clamp(min=1), torch.full_like(count, math.nan))
    if x.shape[0] == 0 or n_boot < 1:
        nan = torch.full_like(count, math.nan)
        return mean, nan, nan.clone()
    means = []
    for w in resample_weights(x.shape[0], n_boot, seed):
        c = w @ ms
        means.append(torch.where(c > 0, (w @ xs) / c.clamp(min=1), torch.full_like(c, math.nan)))
    lo, hi = torch.nanquantile(torch.cat(means), torch.tensor(q, dtype=torch.float64), dim=0)
    return mean, lo, hi


def wilson_positions(err: Tensor, m: Tensor) -> tuple[list, list, list]:
    """Per-position proportion of err where m, with its Wilson 95% interval (n = 0: no value, [0, 1])."""
    k = torch.where(m, err.double(), torch.zeros((), dtype=torch.float64)).sum(0).round().long().tolist()
    n = m.sum(0).tolist()
    rows = [wilson(a, b) for a, b in zip(k, n)]
    return ([rounded(r[0]) for r in rows], [rounded(r[1]) for r in rows], [rounded(r[2]) for r in rows])


def bootstrap_mean(x: Tensor, n_boot: int = N_BOOT, seed: int = 0) -> tuple[float, float, float]:
    """Mean of the finite values of x with its 95% percentile bootstrap interval (engine.stats)."""
    v = x.double().flatten().numpy()
    return bootstrap_ci(v[np.isfinite(v)], n_boot=n_boot, seed=seed)


def rounded(x, digits: int = 5):
    """A reported number: rounded to `digits`, None for None, NaN or infinity (JSON has neither)."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else round(x, digits) + 0.0     # + 0.0: no "-0.0"


def rounded_list(t) -> list:
    return [rounded(v) for v in (t.tolist() if hasattr(t, "tolist") else t)]
