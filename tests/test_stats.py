"""engine.stats against published values and hand computations (no scipy): Wilson and Clopper–Pearson
intervals (Newcombe 1998, table I), Student t quantiles (standard tables), the exact McNemar p, and the
coverage of the bootstrap and t intervals on synthetic data with a known effect."""
import math

import numpy as np
import pytest

from engine import stats

# Newcombe (1998), "Two-sided confidence intervals for the single proportion", Stat. Med. 17, table I:
# (k, n, Wilson lo, Wilson hi, Clopper–Pearson lo, Clopper–Pearson hi)
NEWCOMBE = [
    (81, 263, 0.2553, 0.3662, 0.2527, 0.3676),
    (15, 148, 0.0624, 0.1605, 0.0578, 0.1617),
    (0, 20, 0.0000, 0.1611, 0.0000, 0.1684),
    (1, 29, 0.0061, 0.1718, 0.0009, 0.1776),
]


@pytest.mark.parametrize("k,n,wlo,whi,clo,chi", NEWCOMBE)
def test_proportion_intervals_match_newcombe(k, n, wlo, whi, clo, chi):
    p, lo, hi = stats.wilson(k, n)
    assert p == k / n and round(lo, 4) == wlo and round(hi, 4) == whi
    p, lo, hi = stats.clopper_pearson(k, n)
    assert p == k / n and round(lo, 4) == clo and round(hi, 4) == chi


def test_wilson_by_hand_and_edges():
    z = 1.959964
    _, lo, hi = stats.wilson(0, 10)                  # k = 0: hi = (z²/n) / (1 + z²/n)
    assert lo == 0.0 and hi == pytest.approx((z * z / 10) / (1 + z * z / 10), abs=1e-12)
    _, lo, hi = stats.wilson(5, 10)                  # symmetric around 1/2
    assert lo + hi == pytest.approx(1.0) and lo == pytest.approx(0.2366, abs=1e-4)
    assert stats.wilson(0, 500)[1] == 0.0 and stats.wilson(500, 500)[2] == 1.0     # no rounding residue
    p, lo, hi = stats.wilson(0, 0)
    assert math.isnan(p) and (lo, hi) == (0.0, 1.0)
    with pytest.raises(ValueError):
        stats.wilson(3, 2)


def test_clopper_pearson_closed_forms():
    for n in (1, 5, 37, 500):                        # k = 0 and k = n have closed forms
        assert stats.clopper_pearson(0, n)[2] == pytest.approx(1 - 0.025 ** (1 / n), abs=1e-10)
        assert stats.clopper_pearson(n, n)[1] == pytest.approx(0.025 ** (1 / n), abs=1e-10)
    _, lo, hi = stats.clopper_pearson(5, 10)
    assert lo == pytest.approx(0.1871, abs=1e-4) and hi == pytest.approx(0.8129, abs=1e-4)
    assert stats.clopper_pearson(0, 0)[1:] == (0.0, 1.0)


@pytest.mark.parametrize("df,q975", [(1, 12.7062), (2, 4.3027), (4, 2.7764), (10, 2.2281), (30, 2.0423)])
def test_t_quantiles_match_tables(df, q975):
    assert stats.t_quantile(0.975, df) == pytest.approx(q975, abs=1e-4)
    assert stats.t_quantile(0.025, df) == pytest.approx(-q975, abs=1e-4)


def test_incomplete_beta_and_binomial():
    assert stats.betainc(3.0, 3.0, 0.5) == pytest.approx(0.5, abs=1e-14)
    assert stats.betainc(1.0, 1.0, 0.3) == pytest.approx(0.3, abs=1e-14)
    assert stats.betainc(2.0, 1.0, 0.4) == pytest.approx(0.16, abs=1e-14)        # I_x(2, 1) = x²
    assert stats.binom_cdf(1, 10, 0.5) == pytest.approx(11 / 1024, abs=1e-15)
    assert stats.binom_cdf(3, 3, 0.2) == 1.0 and stats.binom_cdf(-1, 3, 0.2) == 0.0


def test_t_interval_by_hand():
    m, lo, hi = stats.t_interval([1.0, 2.0, 3.0])           # sd 1, half = t(0.975, 2) / sqrt(3)
    assert m == 2.0 and hi - m == pytest.approx(4.302653 / math.sqrt(3), abs=1e-5) and m - lo == pytest.approx(hi - m)
    m, lo, hi = stats.t_interval([0.4])                     # one seed: no interval
    assert m == 0.4 and math.isnan(lo) and math.isnan(hi)


def test_mcnemar_exact_by_hand():
    a = [True] * 9 + [False] * 1 + [True] * 20              # a right, b wrong: 9; a wrong, b right: 1
    b = [False] * 9 + [True] * 1 + [True] * 20
    assert stats.mcnemar_exact(a, b) == pytest.approx(2 * 11 / 1024, abs=1e-15)
    assert stats.mcnemar_exact(b, a) == stats.mcnemar_exact(a, b)
    assert stats.mcnemar_exact([True, False], [False, True]) == 1.0      # one each way: p = 1
    assert stats.mcnemar_exact([True, True], [True, True]) == 1.0        # no discordant pair
    with pytest.raises(ValueError):
        stats.mcnemar_exact([True], [True, False])


def test_bootstrap_is_reproducible_and_handles_empty():
    v = np.arange(50, dtype=float)
    assert stats.bootstrap_ci(v, seed=3) == stats.bootstrap_ci(v, seed=3)
    est, lo, hi = stats.bootstrap_ci(v)
    assert est == 24.5 and lo < est < hi
    assert all(math.isnan(x) for x in stats.bootstrap_ci([]))
    est, lo, hi = stats.bootstrap_ci(v, n_boot=300, stat=np.median)
    assert est == 24.5 and lo < est < hi
    assert stats.N_BOOT >= 1000


def test_paired_bootstrap_covers_a_known_difference():
    """200 synthetic paired data sets with a true mean difference of 0.3 (a shared per-example effect
    that pairing removes): the 95% interval covers 0.3 in about 95% of them."""
    rng = np.random.default_rng(0)
    cover, widths = 0, []
    for rep in range(200):
        base = rng.normal(0, 3, 80)
        a = base + rng.normal(0, 1, 80)
        b = base + 0.3 + rng.normal(0, 1, 80)
        est, lo, hi = stats.paired_bootstrap(a, b, n_boot=1000, seed=rep)
        assert est == pytest.approx(float(np.mean(b - a)))
        cover += lo <= 0.3 <= hi
        widths.append(hi - lo)
    assert 0.90 <= cover / 200 <= 0.99
    assert np.mean(widths) < 0.8          # paired: the shared spread (sd 3) does not widen the interval


def test_t_interval_covers_a_known_mean():
    rng = np.random.default_rng(1)
    cover = sum(lo <= 1.0 <= hi for _, lo, hi in (stats.t_interval(rng.normal(1.0, 2.0, 3)) for _ in range(2000)))
    assert 0.93 <= cover / 2000 <= 0.97
