"""Numerical safety in decoding (issue 10, items 4, 5 and the MBR half of 6): the parameter ranges
exclude overflow, every rule's arithmetic stays finite at the ends of its range, a row that still
comes out of the rules non-finite falls back to the raw distribution with a warning (never NaN in a
trace, never zero hypotheses), the length normalisation never divides by zero or overflows, and MBR
with no candidates says so in one line."""
import json
import math

import pytest
import torch

import engine
from engine.decoding import rules as R
from engine.decoding.beam import BeamHypotheses
from engine.decoding.config import GenerationConfig
from engine.decoding.fields import FIELDS_BY_NAME, GENERATION_FIELDS
from engine.decoding.mbr import mbr_section
from engine.limits import MAX_NEW_TOKENS
from engine.tokenizer import EOS

PROMPT = "The default value of"


@pytest.fixture(scope="module", autouse=True)
def one_thread(one_torch_thread):
    """These tests run with one torch thread (see conftest.one_torch_thread)."""


def _finite_trace(t) -> dict:
    """The trace as JSON with no NaN/Infinity anywhere (json refuses them), and at least one hypothesis."""
    d = t.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["hypotheses"], "no hypothesis"
    for h in d["hypotheses"]:
        assert h["score"] is not None and math.isfinite(h["score"])
        assert h["normalized_score"] is not None and math.isfinite(h["normalized_score"])
    return d


# -- item 5: the values of the issue are refused, with the reason ------------------------------------

@pytest.mark.parametrize("kw", [
    {"temperature": 5e-324}, {"temperature": 1e-5}, {"temperature": 1e39},
    {"repetition_penalty": 1e-300}, {"repetition_penalty": 1e39},
    {"additive_repetition_penalty": 1.7e308}, {"additive_repetition_penalty": 1e39},
    {"additive_repetition_penalty": 1e300}, {"diversity_penalty": 1e39},
    {"length_penalty": 400.0}, {"length_penalty": -400.0}, {"length_penalty": 10.5},
])
def test_overflowing_values_are_refused_naming_the_range_and_its_reason(kw):
    (name, value), = kw.items()
    with pytest.raises(ValueError) as e:
        GenerationConfig(**kw)
    msg = str(e.value)
    assert msg.startswith(f"{name}={value!r} is not allowed: a number in [") and "\n" not in msg
    assert "float32" in msg or "overflow" in msg


def test_every_float_parameter_is_bounded_on_both_sides():
    for f in GENERATION_FIELDS:
        if f.kind in ("float", "optfloat"):
            assert f.lo is not None and f.hi is not None, f.name


def _ends(f):
    """The extreme values a row allows (an open bound: a hair inside)."""
    lo = f.lo + 1e-6 if f.lo_open else f.lo
    hi = f.hi - 1e-6 if f.hi_open else f.hi
    return [lo, hi]


@pytest.mark.parametrize("scale", [1.0, 100.0, 1000.0])
def test_every_rule_stays_finite_at_the_ends_of_its_range(scale):
    """Logits up to ±1000 (far beyond real models), a -inf removed token, a seen token, every rule at
    the ends of its range: no NaN, no +inf, never every token removed (the processors' rows keep one)."""
    torch.manual_seed(0)
    s = (torch.randn(3, 40) * scale).float()
    s[:, 5] = float("-inf")                    # a removed token (the special-token rule)
    ctx, n_gen = [[3, 4, 3, 4, 3], [5], []], [5, 1, 0]
    for f in [f for f in GENERATION_FIELDS if f.rule is not None]:
        for value in _ends(f):
            if f.kind.endswith("int"):
                value = int(value) if value is not None else None
            if f.stage is None:                # hamming_diversity: applied by the strategy
                out = f.rule(s, [3, 3, 7, 3], value)
            else:
                cfg = GenerationConfig(**{f.name: value, "max_new_tokens": MAX_NEW_TOKENS})
                out = R.apply_rules(s, cfg, ctx, n_gen, EOS, warp=True)
            assert not torch.isnan(out).any() and not torch.isposinf(out).any(), (f.name, value)
            logp = torch.log_softmax(out, -1)
            assert not torch.isnan(logp).any(), (f.name, value)


def test_the_issue_s_values_run_at_the_ends_of_the_ranges(text_gpt):
    """Sampling at T = 1e-4, a repetition penalty of 1e-3 while sampling, an additive penalty of 1e4
    with MBR and with 3 beams: finite traces with hypotheses."""
    cases = [
        {"do_sample": True, "temperature": 1e-4, "seed": 1},
        {"do_sample": True, "temperature": 10_000, "seed": 1},
        {"do_sample": True, "repetition_penalty": 1e-3, "seed": 1},
        {"do_sample": True, "repetition_penalty": 1000, "seed": 1},
        {"mbr": True, "do_sample": True, "mbr_num_samples": 4, "additive_repetition_penalty": 10_000, "seed": 1},
        {"num_beams": 3, "additive_repetition_penalty": 10_000},
        {"num_beams": 3, "num_return_sequences": 3, "repetition_penalty": 1000},
        {"mbr": True, "mbr_source": "nbest", "mbr_num_samples": 4, "additive_repetition_penalty": 10_000,
         "repetition_penalty": 1000},
        {"num_beams": 4, "num_beam_groups": 2, "diversity_penalty": 10_000},
    ]
    for cfg in cases:
        t = engine.generate(text_gpt, PROMPT, {**cfg, "max_new_tokens": 12}, record=True)
        d = _finite_trace(t)
        for step in d["steps"]:
            for h in step["hypotheses"]:
                assert h["entropy"] is not None and h["entropy_raw"] is not None, cfg
                if h["token_id"] is not None:
                    assert h["prob"] is not None and h["logprob"] is not None, cfg


# -- the last guard: a non-finite row falls back to the raw distribution, with a warning ------------

def test_apply_rules_removes_a_row_that_came_out_non_finite():
    s = torch.randn(2, 10)
    cfg = GenerationConfig()
    cfg.additive_repetition_penalty = 1e39            # past validation (as a rule bug would be)
    out = R.apply_rules(s, cfg, [[1, 2], [3]], [2, 1], EOS, warp=False)
    assert torch.isneginf(out).all()                   # inf x 0 = NaN in every row: both removed
    cfg = GenerationConfig()
    cfg.temperature = 5e-324
    out = R.apply_rules(s, cfg, None, [0, 0], EOS, warp=True)
    assert torch.isneginf(out).all()
    assert not R.non_finite_rows(torch.tensor([[0.0, float("-inf")]])).any()
    assert R.non_finite_rows(torch.tensor([[0.0, float("inf")], [float("nan"), 0.0], [1.0, 2.0]])).tolist() == \
        [True, True, False]


@pytest.fixture
def unchecked(monkeypatch):
    """GenerationConfig without its range checks: the values of the issue reach the rules."""
    monkeypatch.setattr(GenerationConfig, "validate", lambda self: None)


@pytest.mark.parametrize("cfg", [
    {"do_sample": True, "temperature": 5e-324, "seed": 0},
    {"do_sample": True, "repetition_penalty": 1e-300, "seed": 0},
    {"mbr": True, "do_sample": True, "mbr_num_samples": 4, "additive_repetition_penalty": 1.7e308, "seed": 0},
    {"do_sample": False, "additive_repetition_penalty": 1e39},
    {"num_beams": 3, "additive_repetition_penalty": 1e300},
    {"mbr": True, "mbr_source": "nbest", "mbr_num_samples": 4, "additive_repetition_penalty": 1e300},
], ids=["T=5e-324", "rep=1e-300", "mbr-add=1.7e308", "greedy-add=1e39", "beam3-add=1e300", "nbest-add=1e300"])
def test_the_issue_s_values_past_validation_fall_back_with_a_warning(text_gpt, unchecked, cfg):
    """Before: "probability tensor contains either inf, nan", empty text with nan probabilities, zero
    hypotheses, "max() arg is an empty sequence". Now the raw distribution, said in the trace."""
    t = engine.generate(text_gpt, PROMPT, {**cfg, "max_new_tokens": 6}, record=True)
    d = _finite_trace(t)
    assert t.text.strip()
    assert any("raw distribution was used" in w for w in d["warnings"])


# -- item 4: the length penalty ----------------------------------------------------------------------

def test_length_normalized_never_raises():
    assert R.length_normalized(-6.0, 3, 1.0) == pytest.approx(-2.0)
    assert R.length_normalized(-6.0, 3, 0.0) == -6.0
    assert R.length_normalized(-6.0, 0, 2.0) == -6.0                       # lengths count from 1
    assert R.length_normalized(-6.0, 4, -1.0) == pytest.approx(-24.0)
    assert R.length_normalized(0.0, 4096, -400.0) == 0.0                  # no 0 x inf
    assert R.length_normalized(-6.0, 4096, -400.0) == -math.inf           # overflow: -inf, no exception
    assert R.length_normalized(-6.0, 4096, 400.0) == pytest.approx(0.0, abs=1e-300)   # no ZeroDivisionError
    assert R.length_normalized(-math.inf, 5, 1.0) == -math.inf
    for lp in (-10, 10):                                                   # the allowed range: finite
        assert math.isfinite(R.length_normalized(-1e4, MAX_NEW_TOKENS, lp))
        assert R.length_normalized(-1e4, MAX_NEW_TOKENS, lp) == pytest.approx(-1e4 / MAX_NEW_TOKENS ** lp)


def test_the_allowed_length_penalties_are_finite_at_the_longest_length():
    """At the ends of the allowed range and MAX_NEW_TOKENS tokens, HF's arithmetic
    (score / length ** length_penalty, BeamHypotheses) neither overflows nor divides by zero."""
    f = FIELDS_BY_NAME["length_penalty"]
    for lp in (f.lo, f.hi):
        h = BeamHypotheses(2, lp, False, MAX_NEW_TOKENS)
        for length in (1, 2, MAX_NEW_TOKENS):
            h.add(-1e4, length, {"node": length})
        assert all(math.isfinite(s) for s, _ in h.beams)
        assert h.is_done(-1e4, MAX_NEW_TOKENS) in (True, False)
        never = BeamHypotheses(2, lp, "never", MAX_NEW_TOKENS)
        never.add(-3.0, 5, {})
        never.add(-4.0, 6, {})
        assert never.is_done(-1e4, 7) in (True, False)


@pytest.mark.parametrize("lp", [-10.0, 10.0, -400.0, 400.0])
def test_beam_search_with_extreme_length_penalties(dates, lp):
    cfg = {"num_beams": 3, "num_return_sequences": 3, "length_penalty": lp, "max_new_tokens": 16}
    if abs(lp) > 10:
        with pytest.raises(ValueError, match=r"^length_penalty=.* is not allowed: a number in \[-10, 10\]"):
            engine.generate(dates, "Wed 3 Mar 21", cfg)
        return
    d = _finite_trace(engine.generate(dates, "Wed 3 Mar 21", cfg, record=False))
    for node in d["beam"]["nodes"]:
        assert node["score"] is not None
    _finite_trace(engine.generate(dates, "Wed 3 Mar 21", {**cfg, "mbr": True, "mbr_source": "nbest",
                                                           "mbr_num_samples": 3, "num_beams": 1}, record=False))


# -- item 6 (MBR half): no candidates -> one clear line ------------------------------------------------

def test_mbr_with_no_candidates_says_so():
    for source in ("nbest", "samples"):
        with pytest.raises(ValueError) as e:
            mbr_section([], source, "chrf", weighted=source == "nbest")
        msg = str(e.value)
        assert msg.startswith("MBR has no candidates to choose from") and "\n" not in msg
        assert "max()" not in msg


def test_mbr_nbest_with_absurd_but_allowed_penalties_has_candidates(text_gpt):
    cfg = {"mbr": True, "mbr_source": "nbest", "mbr_num_samples": 4, "repetition_penalty": 1000,
           "additive_repetition_penalty": 10_000, "no_repeat_ngram_size": 1, "max_new_tokens": 10}
    d = _finite_trace(engine.generate(text_gpt, PROMPT, cfg, record=False))
    assert d["mbr"]["candidates"]
