"""The one table of generation parameters (engine/decoding/fields.py) drives GenerationConfig, the
rules, the CLI flags and the docs table: they stay in sync, every row's range is enforced."""
import dataclasses
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import engine
from engine.__main__ import build_parser
from engine.decoding import rules as R
from engine.decoding.cli import flag
from engine.decoding.config import GenerationConfig
from engine.decoding.fields import (GENERATION_FIELDS, STRATEGIES, Field, docs_with_table, markdown_table,
                                    rule_fields, warper_names)
from engine.tokenizer import EOS

ROOT = Path(__file__).resolve().parent.parent
RULE_ROWS = [f for f in GENERATION_FIELDS if f.stage]


def test_the_table_is_the_config():
    assert engine.GENERATION_FIELDS is GENERATION_FIELDS
    fields = dataclasses.fields(GenerationConfig)
    assert [f.name for f in fields] == [f.name for f in GENERATION_FIELDS]
    assert GenerationConfig().to_dict() == {f.name: f.default for f in GENERATION_FIELDS}
    for row in GENERATION_FIELDS:
        row.check(row.default)                                     # every default is allowed
        assert row.help and row.strategies and set(row.strategies) <= set(STRATEGIES)
        if row.kind in ("choice", "early_stopping"):
            assert row.default in row.choices


def _just_outside(row: Field):
    """Values a hair outside the row's range (or of the wrong kind)."""
    if row.kind == "bool":
        return ["yes", 1]
    if row.kind in ("choice", "early_stopping"):
        return ["nope", 1]
    step = 1 if row.kind.endswith("int") else 1e-9
    out = []
    if row.lo is not None:
        out.append(row.lo if row.lo_open else row.lo - step)
    if row.hi is not None:
        out.append(row.hi if row.hi_open else row.hi + step)
    if row.kind.endswith("float"):
        out += [math.inf, math.nan]
    if row.kind.endswith("int"):
        out += [1.5, True]
    if not row.optional:
        out.append(None)
    return out


@pytest.mark.parametrize("row", GENERATION_FIELDS, ids=lambda r: r.name)
def test_every_row_enforces_its_range(row):
    for bad in _just_outside(row):
        with pytest.raises(ValueError) as e:
            GenerationConfig(**{row.name: bad})
        msg = str(e.value)
        assert msg.startswith(f"{row.name}=") and row.allowed() in msg and "\n" not in msg, (bad, msg)


@pytest.mark.parametrize("row", [r for r in GENERATION_FIELDS if r.lo is not None or r.hi is not None],
                         ids=lambda r: r.name)
def test_bounds_themselves_follow_open_and_closed(row):
    for bound, open_ in ((row.lo, row.lo_open), (row.hi, row.hi_open)):
        if bound is None or open_:
            continue
        row.check(bound)                      # a closed bound is allowed (combinations aside)


def test_every_rule_row_has_a_rule_function_in_rules_py():
    assert RULE_ROWS
    for row in GENERATION_FIELDS:
        if row.rule is not None:
            assert getattr(R, row.rule.__name__) is row.rule
    for row in RULE_ROWS:
        assert row.stage in ("processor", "warper")
        value_arg, needs = R.call_plan(row.rule)   # the rule takes the value and named context only
        assert value_arg and set(needs) <= set(R.CONTEXT_ARGS)
        assert row.is_off(row.default)           # a rule is off by default
        # processors act in every strategy, warpers when sampling
        assert row.strategies == (STRATEGIES if row.stage == "processor" else ("sample", "mbr"))
    orders = [r.order for r in RULE_ROWS]
    assert len(set(orders)) == len(orders)
    assert [f.name for f in rule_fields(True)] == [r.name for r in sorted(RULE_ROWS, key=lambda r: r.order)]
    assert all(f.stage == "processor" for f in rule_fields(False))
    assert warper_names() == [f.name for f in rule_fields(True) if f.stage == "warper"]


def test_apply_rules_runs_each_rule_row_alone_as_its_function():
    torch.manual_seed(0)
    s = torch.randn(2, 12) * 2
    ctx, n_gen = [[3, 4, 3, 4, 3], [5]], [5, 1]
    settings = {"repetition_penalty": 1.5, "additive_repetition_penalty": 0.7, "no_repeat_ngram_size": 2,
                "min_new_tokens": 3, "temperature": 0.5, "top_k": 3, "top_p": 0.5, "min_p": 0.3, "typical_p": 0.5,
                "epsilon_cutoff": 0.05}
    settings.update({r.name: 0.1 for r in RULE_ROWS if r.name not in settings})   # a rule added later
    seen = R.seen_mask(ctx, 12)
    context = {"seen": seen, "context_ids": ctx, "n_generated": n_gen, "eos_id": EOS}
    for row in RULE_ROWS:
        cfg = GenerationConfig(**{row.name: settings[row.name], "max_new_tokens": 8})
        value_arg, needs = R.call_plan(row.rule)
        expected = row.rule(s, **{value_arg: settings[row.name]}, **{k: context[k] for k in needs})
        assert not torch.equal(expected, s), row.name           # the test setting does something
        got = R.apply_rules(s, cfg, ctx, n_gen, EOS, warp=True)
        assert torch.equal(got, expected), row.name
        assert R.rules_active(cfg, True) == [row.name]
        assert R.rules_active(cfg, False) == ([row.name] if row.stage == "processor" else [])
        if row.stage == "warper":
            assert torch.equal(R.apply_rules(s, cfg, ctx, n_gen, EOS, warp=False), s)


def test_a_cli_flag_for_every_row():
    sub = build_parser()._subparsers._group_actions[0].choices
    for command in ("decode", "tf-fr"):
        actions = {a.dest: a for a in sub[command]._actions}
        for row in GENERATION_FIELDS:
            a = actions[row.name]
            assert flag(row) in a.option_strings and row.help.split(";")[0] in a.help
            if row.kind == "choice":
                assert list(a.choices) == list(row.choices)


def test_cli_flags_reach_the_config():
    from engine.decoding.cli import config_from_args
    p = build_parser()
    args = p.parse_args(["decode", "--model", "m", "--input", "x", "--do-sample", "--top-k", "5", "--min-p", "0.2",
                         "--early-stopping", "never", "--mbr-utility", "bleu"])
    cfg = config_from_args(args)
    assert (cfg.do_sample, cfg.top_k, cfg.min_p, cfg.early_stopping, cfg.mbr_utility) == (True, 5, 0.2, "never", "bleu")


def test_docs_table_is_the_generated_one():
    text = (ROOT / "docs" / "decoding.md").read_text(encoding="utf-8")
    assert docs_with_table(text) == text, "run: python -m engine.decoding.fields --update-docs"
    table = markdown_table()
    for row in GENERATION_FIELDS:
        assert f"| `{row.name}` |" in table
    assert "## Special tokens" in text and "never_emit_ids" in text


def test_markdown_command_prints_the_table():
    p = subprocess.run([sys.executable, "-m", "engine.decoding.fields", "--markdown"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.strip() == markdown_table()


def test_presets_are_valid_configs():
    assert {"greedy", "beam 4", "top-p 0.9", "MBR", "pure sampling"} <= set(engine.PRESETS)
    for name, overrides in engine.PRESETS.items():
        GenerationConfig(**overrides)
        if overrides.get("do_sample"):
            assert overrides.get("seed") == 0, name                # a link reproduces a sampled view


# -- eta_cutoff: the rule that arrived as one function + one row ---------------------------------------

def _eta_threshold(probs, eta):
    """min(eta, sqrt(eta) * exp(-H)), H the entropy in nats (Hewitt et al. 2022, eq. for eta-sampling)."""
    h = -sum(p * math.log(p) for p in probs if p > 0)
    return min(eta, math.sqrt(eta) * math.exp(-h))


def test_eta_cutoff_by_hand():
    probs = [0.5, 0.3, 0.15, 0.05]                  # H = 1.142121 nats, exp(-H) = 0.31914
    s = torch.tensor([probs]).log()
    kept = lambda eta, **kw: torch.isfinite(R.eta_cutoff(s, eta, **kw))[0].tolist()  # noqa: E731
    assert _eta_threshold(probs, 0.9) == pytest.approx(0.302764, abs=1e-5)   # sqrt(0.9) * 0.31914 < 0.9
    assert kept(0.9) == [True, False, False, False]                         # 0.3 < 0.3028: cut (epsilon 0.3 would keep it)
    assert _eta_threshold(probs, 0.16) == pytest.approx(0.127656, abs=1e-5)  # 0.4 * 0.31914
    assert kept(0.16) == [True, True, True, False]                          # 0.15 kept (epsilon 0.16 would cut it)
    assert kept(0.9, min_tokens_to_keep=2) == [True, True, False, False]
    peaked = [0.9, 0.06, 0.04]                      # H = 0.392385, exp(-H) = 0.675444
    assert _eta_threshold(peaked, 0.05) == 0.05     # sqrt(0.05) * 0.6754 = 0.151 > 0.05: eta itself binds
    assert torch.isfinite(R.eta_cutoff(torch.tensor([peaked]).log(), 0.05))[0].tolist() == [True, True, False]
    # a token already removed (-inf, e.g. by top_k) adds nothing to the entropy and stays removed
    s3 = torch.tensor([[math.log(0.5), math.log(0.3), math.log(0.2), -math.inf]])
    assert _eta_threshold([0.5, 0.3, 0.2], 0.5) == pytest.approx(0.252529, abs=1e-5)
    assert torch.isfinite(R.eta_cutoff(s3, 0.5))[0].tolist() == [True, True, False, False]
    assert torch.equal(R.eta_cutoff(s, 0.0), s)


def _hf_eta(scores, epsilon, min_tokens_to_keep=1):
    """transformers' EtaLogitsWarper.__call__ (generation/logits_process.py), line for line."""
    probabilities = scores.softmax(dim=-1)
    entropy = torch.distributions.Categorical(logits=scores).entropy()
    eps = torch.tensor(epsilon)
    eta = torch.min(eps, torch.sqrt(eps) * torch.exp(-entropy))[..., None]
    indices_to_remove = probabilities < eta
    top_k = min(min_tokens_to_keep, scores.size(-1))
    indices_to_remove = indices_to_remove & (scores < torch.topk(scores, top_k)[0][..., -1, None])
    return scores.masked_fill(indices_to_remove, -float("inf"))


def test_eta_cutoff_matches_hugging_face():
    torch.manual_seed(3)
    s = torch.randn(6, 40) * 2.5
    s[0, :5] = -math.inf
    for eta in (3e-4, 4e-3, 0.02, 0.1, 0.5, 0.99):
        for keep in (1, 3):
            assert torch.equal(R.eta_cutoff(s, eta, keep), _hf_eta(s, eta, keep)), (eta, keep)


def test_eta_cutoff_through_the_table():
    row = next(f for f in GENERATION_FIELDS if f.name == "eta_cutoff")
    assert (row.rule, row.stage, row.hf_name, row.default) == (R.eta_cutoff, "warper", "eta_cutoff", 0.0)
    assert "eta_cutoff" in warper_names() and warper_names()[-2:] == ["epsilon_cutoff", "eta_cutoff"]  # HF order
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match=r"^eta_cutoff="):
            GenerationConfig(eta_cutoff=bad)
    args = build_parser().parse_args(["decode", "--model", "m", "--input", "x", "--do-sample", "--eta-cutoff", "0.01"])
    from engine.decoding.cli import config_from_args
    cfg = config_from_args(args)
    assert cfg.eta_cutoff == 0.01 and R.rules_active(cfg, True) == ["eta_cutoff"]
    assert "| `eta_cutoff` |" in (ROOT / "docs" / "decoding.md").read_text(encoding="utf-8")


# -- numerical safety (issue 10, items 4 and 5): ranges that exclude overflow, each with its reason -----

SAFETY_ROWS = ("temperature", "repetition_penalty", "additive_repetition_penalty", "diversity_penalty",
               "length_penalty")


def test_the_numerical_ranges_say_their_reason_in_the_docs_table():
    table = {line.split("|")[1].strip(" `"): line for line in markdown_table().splitlines()[2:]}
    for name in SAFETY_ROWS:
        row = next(f for f in GENERATION_FIELDS if f.name == name)
        assert row.lo is not None and row.hi is not None, name
        assert "float32" in row.note or "overflow" in row.note, name
        assert row.note.replace("<", "&lt;").replace(">", "&gt;") in table[name], name
    assert "[0.0001, 10000]" in table["temperature"] and "[-10, 10]" in table["length_penalty"]


def test_the_cli_flags_take_the_same_ranges():
    from engine.decoding.cli import config_from_args
    p = build_parser()
    ok = p.parse_args(["decode", "--model", "m", "--input", "x", "--temperature", "0.0001", "--length-penalty", "-10",
                       "--additive-repetition-penalty", "10000"])
    cfg = config_from_args(ok)
    assert (cfg.temperature, cfg.length_penalty, cfg.additive_repetition_penalty) == (1e-4, -10, 10000)
    for flag_, bad in (("--temperature", "5e-324"), ("--length-penalty", "400"), ("--repetition-penalty", "1e-300"),
                       ("--additive-repetition-penalty", "1e39")):
        with pytest.raises((SystemExit, ValueError)):
            config_from_args(p.parse_args(["decode", "--model", "m", "--input", "x", flag_, bad]))
