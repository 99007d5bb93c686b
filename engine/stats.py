"""Interval and test formulas of the exposure lab, in one place (torch-free, numpy only).

Every verdict of engine/experiments decides from one of these: proportions get Wilson or
Clopper–Pearson intervals, means over examples a percentile bootstrap (N_BOOT resamples), paired
comparisons a paired bootstrap or McNemar's exact test, means over training seeds a Student t
interval. The distribution functions (binomial tail, regularised incomplete beta, t quantile) are
computed here without scipy; tests/test_stats.py checks them against published values.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

N_BOOT = 2000                   # bootstrap resamples everywhere (>= 1000)
_CHUNK = 2_000_000              # resampled numbers held in memory at once (resamples x examples)


# -- proportions -------------------------------------------------------------------------------------

def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float, float]:
    """(k / n, lo, hi): the Wilson score interval of a proportion (95% by default); n == 0 -> (nan, 0, 1)."""
    k, n = int(k), int(n)
    if n < 0 or not 0 <= k <= max(n, 0):
        raise ValueError(f"wilson: need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return float("nan"), 0.0, 1.0
    p = k / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    lo = 0.0 if k == 0 else max(0.0, centre - half)           # exact at the ends (no rounding residue)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return p, lo, hi


def _log_binom_pmf(i: np.ndarray, n: int, p: float) -> np.ndarray:
    lg = np.vectorize(math.lgamma)
    return (math.lgamma(n + 1) - lg(i + 1) - lg(n - i + 1)) + i * math.log(p) + (n - i) * math.log1p(-p)


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p) (exact sum in log space)."""
    if k < 0:
        return 0.0
    if k >= n or p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0
    i = np.arange(0, k + 1, dtype=float)
    lp = _log_binom_pmf(i, n, p)
    m = lp.max()
    return float(min(1.0, math.exp(m) * np.exp(lp - m).sum()))


def _bisect(f: Callable[[float], float], lo: float, hi: float, iters: int = 200) -> float:
    """The root of a function increasing from f(lo) < 0 to f(hi) > 0."""
    for _ in range(iters):
        mid = (lo + hi) / 2
        if f(mid) < 0:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-15:
            break
    return (lo + hi) / 2


def clopper_pearson(k: int, n: int, alpha: float = 0.05) -> tuple[float, float, float]:
    """(k / n, lo, hi): the exact (Clopper–Pearson) interval of a proportion; n == 0 -> (nan, 0, 1).
    lo solves P(X >= k | lo) = alpha / 2, hi solves P(X <= k | hi) = alpha / 2."""
    k, n = int(k), int(n)
    if n < 0 or not 0 <= k <= max(n, 0):
        raise ValueError(f"clopper_pearson: need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return float("nan"), 0.0, 1.0
    a = alpha / 2
    lo = 0.0 if k == 0 else _bisect(lambda p: (1 - binom_cdf(k - 1, n, p)) - a, 0.0, 1.0)
    hi = 1.0 if k == n else _bisect(lambda p: a - binom_cdf(k, n, p), 0.0, 1.0)
    return k / n, lo, hi


# -- Student t ---------------------------------------------------------------------------------------

def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    lbt = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(lbt) * _betacf(a, b, x) / a
    return 1.0 - math.exp(lbt) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with df degrees of freedom."""
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(q: float, df: float) -> float:
    """The q-quantile of Student's t (bisection on t_cdf)."""
    if not 0.0 < q < 1.0:
        raise ValueError(f"t_quantile: q must be in (0, 1), got {q}")
    if q == 0.5:
        return 0.0
    if q < 0.5:
        return -t_quantile(1.0 - q, df)
    hi = 1.0
    while t_cdf(hi, df) < q:
        hi *= 2.0
    return _bisect(lambda t: t_cdf(t, df) - q, 0.0, hi)


def t_interval(values: Sequence[float], conf: float = 0.95) -> tuple[float, float, float]:
    """(mean, lo, hi): the Student t interval of a mean over k >= 2 values (e.g. one per training
    seed); with one value the bounds are nan (no interval, so no verdict can rest on it)."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    m = float(v.mean())
    if v.size < 2:
        return m, float("nan"), float("nan")
    half = t_quantile(0.5 + conf / 2, v.size - 1) * float(v.std(ddof=1)) / math.sqrt(v.size)
    return m, m - half, m + half


# -- bootstrap ---------------------------------------------------------------------------------------

def bootstrap_ci(values: Sequence[float], n_boot: int = N_BOOT, seed: int = 0,
                 stat: Callable = np.mean) -> tuple[float, float, float]:
    """(stat(values), lo, hi): the 95% percentile bootstrap interval of a statistic of i.i.d. values
    (n_boot resamples with replacement, a numpy Generator seeded with `seed`); empty -> nan triple."""
    v = np.asarray(values, dtype=float).ravel()
    n = v.size
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    if n_boot < 1:
        raise ValueError(f"bootstrap_ci: n_boot must be >= 1, got {n_boot}")
    est = float(stat(v))
    rng = np.random.default_rng(seed)
    out = np.empty(n_boot)
    rows = max(1, _CHUNK // n)
    for start in range(0, n_boot, rows):
        m = min(rows, n_boot - start)
        sample = v[rng.integers(0, n, size=(m, n))]
        if stat is np.mean:
            out[start:start + m] = sample.mean(axis=1)
        else:
            out[start:start + m] = [stat(s) for s in sample]
    lo, hi = np.percentile(out, [2.5, 97.5])
    return est, float(lo), float(hi)


def paired_bootstrap(a: Sequence[float], b: Sequence[float], n_boot: int = N_BOOT,
                     seed: int = 0) -> tuple[float, float, float]:
    """(mean(b - a), lo, hi): the 95% percentile bootstrap interval of the mean paired difference
    (a[i] and b[i] measured on the same example; pairs are resampled together)."""
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired_bootstrap: a and b must pair up, got {a.size} and {b.size} values")
    return bootstrap_ci(b - a, n_boot=n_boot, seed=seed)


# -- paired proportions ------------------------------------------------------------------------------

def mcnemar_exact(a_ok: Sequence[bool], b_ok: Sequence[bool]) -> float:
    """The two-sided exact McNemar p-value: of the n discordant pairs (one right, the other wrong),
    p = min(1, 2 P(X <= min(n01, n10))) with X ~ Binomial(n, 1/2); no discordant pair -> 1."""
    a, b = np.asarray(a_ok, dtype=bool).ravel(), np.asarray(b_ok, dtype=bool).ravel()
    if a.shape != b.shape:
        raise ValueError(f"mcnemar_exact: a_ok and b_ok must pair up, got {a.size} and {b.size} values")
    n01, n10 = int((a & ~b).sum()), int((~a & b).sum())
    n = n01 + n10
    if n == 0:
        return 1.0
    return min(1.0, 2.0 * binom_cdf(min(n01, n10), n, 0.5))
