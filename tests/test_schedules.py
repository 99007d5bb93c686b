"""Scheduled-sampling decays match the formulas of Bengio et al. (2015); the length curriculum."""
import math

import pytest

from engine.training import schedules
from engine.training.schedules import curriculum_length, exponential, inverse_sigmoid, linear, make_schedule


@pytest.mark.parametrize("i", [0, 1, 10, 500, 4000, 10**6])
def test_formulas(i):
    assert linear(i, k=1.0, c=2e-4, eps_min=0.1) == max(0.1, 1.0 - 2e-4 * i)
    assert exponential(i, k=0.999) == pytest.approx(0.999 ** i, rel=1e-12, abs=1e-300)
    expected = 300 / (300 + math.exp(i / 300)) if i / 300 < 700 else 0.0
    assert inverse_sigmoid(i, k=300) == pytest.approx(expected, rel=1e-12, abs=1e-300)


def test_values_by_hand():
    assert linear(0, 1.0, 0.001) == 1.0 and linear(500, 1.0, 0.001) == pytest.approx(0.5)
    assert linear(5000, 1.0, 0.001, eps_min=0.2) == 0.2
    assert exponential(2, 0.5) == 0.25
    assert inverse_sigmoid(0, 1.0) == pytest.approx(0.5)          # 1 / (1 + e^0)
    assert inverse_sigmoid(100, 100) == pytest.approx(100 / (100 + math.e))


@pytest.mark.parametrize("name,k", [("linear", 1.0), ("exponential", 0.99), ("inverse_sigmoid", 50.0)])
def test_schedules_decay_monotonically_within_unit_interval(name, k):
    f = make_schedule(name, k=k, c=1e-3)
    values = [f(i) for i in range(0, 3000, 10)]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert all(a >= b for a, b in zip(values, values[1:]))
    assert values[-1] < values[0]


def test_none_and_constant():
    assert make_schedule("none")(12345) == 1.0
    assert make_schedule("constant", k=0.0)(0) == 0.0
    assert make_schedule("constant", k=0.25)(99) == 0.25


@pytest.mark.parametrize("name,k,c", [("bogus", None, None), ("inverse_sigmoid", 0.5, None),
                                      ("exponential", 1.5, None), ("linear", 2.0, None), ("linear", 1.0, -1.0),
                                      ("constant", 1.1, None)])
def test_bad_parameters_are_refused(name, k, c):
    with pytest.raises(ValueError):
        make_schedule(name, k=k, c=c)


def test_curriculum_length():
    assert curriculum_length(0, 100, 2, 10) == 2
    assert curriculum_length(50, 100, 2, 10) == 6
    assert curriculum_length(100, 100, 2, 10) == 10
    assert curriculum_length(5, 0, 2, 10) == 10          # off
    lengths = [curriculum_length(i, 100, 2, 10) for i in range(120)]
    assert lengths == sorted(lengths)
    assert schedules.SCHEDULES[0] == "none"
