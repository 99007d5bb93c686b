"""Fuzz target "generate": random GenerationConfig dicts and input texts on tiny models built here
(every architecture) and on one shipped model (text-gpt, a few new tokens).

Property (the contract of engine.generate / engine.generate_batch): a one-line ValueError, or traces
that engine.trace.validate accepts, with no NaN anywhere, every probability in [0, 1], never a chosen
token that the special-token rule forbids (tokenizer never_emit) or outside the vocabulary, and a
JSON form that engine.load_trace reads back. Nothing else: no other exception, no hang, no allocation
of more than 1 GB.
"""
from __future__ import annotations

import functools

import torch
from hypothesis import example, given
from hypothesis import strategies as st

import engine
from engine.checkpoint import Bundle
from engine.decoding.fields import GENERATION_FIELDS
from engine.models import build_model
from engine.rollout import never_emit_ids
from engine.tokenizer import Tokenizer
from fuzzkit import CHARS, GB, HUGE_INTS, SPECIAL_FLOATS, cases, find_nan, guard, one_line, scalars, texts

VOCAB = "abc xyz.0123"
EPS = 1e-6                                    # the validator's slack on rounded probabilities
TINY = {
    "gpt": {"d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 32, "dropout": 0.0, "max_len": 12},
    "gru-attn": {"d_emb": 8, "d_hidden": 16, "d_attn": 8, "dropout": 0.0, "max_len": 12},
    "gru-noattn": {"d_emb": 8, "d_hidden": 16, "d_attn": 8, "dropout": 0.0, "max_len": 12},
    "transformer": {"d_model": 16, "n_layers": 1, "n_dec_layers": 1, "n_heads": 2, "d_ff": 32, "dropout": 0.0,
                    "max_len": 12},
}
SHIPPED = "text-gpt"


@functools.lru_cache(maxsize=None)
def tiny(arch: str) -> Bundle:
    """A random model of `arch` over a 12-character vocabulary, peaked enough to end sometimes."""
    torch.manual_seed(len(arch))
    tok = Tokenizer.train_char([VOCAB])
    model = build_model(arch, {"vocab_size": tok.vocab_size, **TINY[arch]})
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5)
    model.eval()
    config = {"name": f"tiny-{arch}", "arch": arch, "task": "tiny", "kind": "lm" if arch == "gpt" else "seq2seq",
              "model": model.config_dict}
    return Bundle(f"tiny-{arch}", model, tok, config)


@functools.lru_cache(maxsize=None)
def shipped() -> Bundle:
    return engine.load(SHIPPED)


# -- configs ---------------------------------------------------------------------------------------

def in_range(f) -> st.SearchStrategy:
    """Values the field's row allows, extremes included (5e-324, 1e300, the largest float)."""
    base = f.kind.removeprefix("opt")
    if f.kind == "bool":
        s = st.booleans()
    elif f.kind in ("choice", "early_stopping"):
        s = st.sampled_from(list(f.choices))
    elif base == "int":
        lo = int(f.lo) if f.lo is not None else 0
        hi = int(f.hi) if f.hi is not None else lo + 10 ** 6
        s = st.one_of(st.integers(lo, min(hi, lo + 6)), st.sampled_from([lo, hi]))
    else:
        lo = -1.7976931348623157e308 if f.lo is None else f.lo
        hi = 1.7976931348623157e308 if f.hi is None else f.hi
        extremes = [x for x in SPECIAL_FLOATS + [lo, hi] if x == x and abs(x) != float("inf") and lo <= x <= hi
                    and not (f.lo_open and x == lo) and not (f.hi_open and x == hi)]
        s = st.one_of(st.floats(lo, hi, exclude_min=f.lo_open, exclude_max=f.hi_open), st.sampled_from(extremes))
    return st.one_of(st.none(), s) if f.optional else s


def hostile(f) -> st.SearchStrategy:
    """Anything: wrong types, out of range, NaN, inf, huge integers."""
    return st.one_of(scalars(), st.sampled_from(HUGE_INTS + SPECIAL_FLOATS),
                     st.lists(st.integers(-2, 70), max_size=2), st.dictionaries(st.text(CHARS, max_size=3),
                                                                                 st.integers(), max_size=1))


FIELDS = {f.name: f for f in GENERATION_FIELDS}
ANY_VALUE = {name: st.one_of(in_range(f), hostile(f)) for name, f in FIELDS.items()}


@st.composite
def shaped(draw) -> dict:
    """A config aimed at one strategy (so that most of them run), its values drawn from the whole
    allowed range, sometimes one field drawn from anything."""
    strategy = draw(st.sampled_from(["greedy", "sample", "beam", "diverse_beam", "mbr"]))
    cfg = {"max_new_tokens": draw(st.one_of(st.integers(1, 6), st.sampled_from([12, 4096])))}
    rules = ["repetition_penalty", "additive_repetition_penalty", "no_repeat_ngram_size", "min_new_tokens"]
    if strategy in ("sample", "mbr"):
        rules += ["temperature", "top_k", "top_p", "min_p", "typical_p", "epsilon_cutoff", "eta_cutoff", "seed"]
    if strategy == "sample":
        cfg["do_sample"] = True
        cfg["num_return_sequences"] = draw(st.integers(1, 3))
    elif strategy == "beam":
        k = draw(st.integers(2, 64))
        cfg.update(num_beams=k, num_return_sequences=draw(st.integers(1, min(k, 4))))
        rules += ["length_penalty", "early_stopping"]
    elif strategy == "diverse_beam":
        g = draw(st.integers(2, 4))
        cfg.update(num_beams=g * draw(st.integers(1, 3)), num_beam_groups=g)
        rules += ["length_penalty", "early_stopping", "diversity_penalty"]
    elif strategy == "mbr":
        n = draw(st.one_of(st.integers(2, 6), st.just(128)))
        cfg.update(mbr=True, mbr_num_samples=n, num_return_sequences=draw(st.integers(1, min(n, 3))),
                   mbr_source=draw(st.sampled_from(["samples", "nbest"])),
                   mbr_utility=draw(st.sampled_from(["chrf", "bleu"])))
        rules += ["length_penalty", "early_stopping"]
    for name in draw(st.lists(st.sampled_from(rules), max_size=4, unique=True)):
        cfg[name] = draw(in_range(FIELDS[name]))
    if "min_new_tokens" in cfg:
        cfg["min_new_tokens"] = min(cfg["min_new_tokens"], cfg["max_new_tokens"])
    if draw(st.integers(0, 4)) == 0:                       # one field from anything
        name = draw(st.sampled_from(sorted(FIELDS)))
        cfg[name] = draw(ANY_VALUE[name])
    return cfg


CONFIGS = st.one_of(
    shaped(),
    st.fixed_dictionaries({}, optional=ANY_VALUE),          # every field, in and out of range
    st.dictionaries(st.sampled_from(sorted(FIELDS)) | st.text(CHARS, max_size=8), scalars(), max_size=3),
    st.sampled_from([None, [], "greedy", 0]),             # not a dict at all
)
RECORDS = st.sampled_from([None, False, {"top_k": 3, "hidden_states": False, "attention": True},
                           {"top_k": 0, "layers": [0], "hidden_states": True, "attention": False}])
VOCAB_TEXTS = st.text(st.sampled_from(VOCAB), max_size=14)
INPUTS = st.one_of(VOCAB_TEXTS, texts())


# -- the property ----------------------------------------------------------------------------------

def check_trace(bundle: Bundle, tr) -> None:
    d = tr.to_dict()
    engine.trace.validate(d)
    where = find_nan(d)
    assert where is None, f"NaN in the trace at {where}"
    again = engine.load_trace(tr.to_json())                # strict JSON (no NaN/inf), validated on reading
    assert again.to_dict() == d, "the trace changes when saved and read back"
    tok = bundle.tokenizer
    banned = set(never_emit_ids(tok))
    vocab = tok.vocab_size
    for s in d["steps"]:
        for h in s["hypotheses"]:
            where = f"steps[{s['step']}] slot {h['slot']}"
            if h["token_id"] is not None:                   # null: beam search (the children are nodes)
                assert h["token_id"] not in banned, f"{where}: chose never_emit token {h['token_id']}"
                assert 0 <= h["token_id"] < vocab, f"{where}: token id {h['token_id']} outside the vocabulary"
            for key in ("prob",):
                assert h[key] is None or -EPS <= h[key] <= 1 + EPS, f"{where}: {key} = {h[key]}"
            for key in ("logprob", "raw_logprob"):
                assert h[key] is None or h[key] <= EPS, f"{where}: {key} = {h[key]} > 0"
            for top in ("top_before", "top_after"):
                for e in h[top] or []:
                    assert -EPS <= e["prob"] <= 1 + EPS, f"{where}: {top} prob {e['prob']}"
                    assert e["id"] < vocab, f"{where}: {top} shows id {e['id']} outside the vocabulary"
    for i, h in enumerate(d["hypotheses"]):
        bad = [t for t in h["token_ids"] if t is not None and (t in banned or not 0 <= t < vocab)]
        assert not bad, f"hypotheses[{i}] holds forbidden token ids {bad}"
    for n in (d["beam"] or {}).get("nodes", []):
        if n["parent"] is not None:
            assert n["token_id"] not in banned, f"beam node {n['id']} holds never_emit token {n['token_id']}"


def run_case(bundle: Bundle, inputs, config, record, batch: bool) -> None:
    try:
        with guard(60, GB):
            if batch:
                traces = engine.generate_batch(bundle, inputs, config, record=record)
            else:
                traces = [engine.generate(bundle, inputs[0], config, record=record)]
    except ValueError as exc:
        assert one_line(str(exc)), f"ValueError message is not one line: {str(exc)!r}"
        return
    assert len(traces) == len(inputs)
    for tr in traces:
        check_trace(bundle, tr)


@given(arch=st.sampled_from(sorted(TINY)), inputs=st.lists(INPUTS, min_size=1, max_size=3), config=CONFIGS,
       record=RECORDS, batch=st.booleans())
@cases(ci=120, long=3000)
@example(arch="gpt", inputs=["\ud800"], config=None, record=None, batch=False)        # issue 10's cases (items 4-6)
@example(arch="gpt", inputs=["ab"], config={"num_beams": 3, "length_penalty": 400.0}, record=None, batch=False)
@example(arch="gpt", inputs=["ab"], config={"num_beams": 3, "length_penalty": -400.0}, record=None, batch=False)
@example(arch="gpt", inputs=["ab"], config={"do_sample": True, "temperature": 5e-324}, record=None, batch=False)
@example(arch="gpt", inputs=["ab"], config={"do_sample": True, "repetition_penalty": 1e-300}, record=None,
         batch=False)
@example(arch="gpt", inputs=["ab"], config={"mbr": True, "mbr_num_samples": 4, "additive_repetition_penalty": 1.7e308},
         record=None, batch=False)
@example(arch="gpt", inputs=["ab"], config={"additive_repetition_penalty": 1e39}, record=None, batch=False)
@example(arch="gpt", inputs=["ab"], config={"num_beams": 3, "additive_repetition_penalty": 1e300}, record=None,
         batch=False)
@example(arch="transformer", inputs=["ab"], config={"mbr": True, "mbr_source": "nbest", "mbr_num_samples": 4,
                                                    "repetition_penalty": 1e300, "length_penalty": -400.0},
         record=None, batch=False)
def test_generate_on_tiny_models(one_torch_thread, arch, inputs, config, record, batch):
    run_case(tiny(arch), inputs if batch else inputs[:1], config, record, batch)


@given(inputs=st.lists(INPUTS, min_size=1, max_size=2), config=CONFIGS, record=RECORDS, batch=st.booleans(),
       max_new=st.integers(1, 4))
@cases(ci=30, long=600)
def test_generate_on_a_shipped_model(one_torch_thread, inputs, config, record, batch, max_new):
    if isinstance(config, dict):
        config = {**config, "max_new_tokens": max_new}     # a few new tokens: the shipped model is bigger
    run_case(shipped(), inputs if batch else inputs[:1], config, record, batch)
