"""The recorder's own traces skip one thing in `schema.finish`: re-reading every attention weight, which
the recorder checked on the tensors (`Recorder.numbers_ok`, `finish(d, numbers_checked=True)`). These
tests keep that honest:

- every trace the recorder makes, for every strategy, model kind and family here, also passes the full
  validator (a recorder bug that puts a bad number or shape in a trace still fails a test);
- a bad weight in a tensor (NaN, above 1, below 0) turns the shortcut off, and the run fails with the
  full validator's one-line message naming the value, as before (a bad hidden state too: those are
  always read one by one);
- traces from outside (`load_trace`) are validated in full: the shortcut is never taken there;
- `numbers_checked` still checks the nesting and shapes of the blocks, and the column check of
  rectangular blocks means what the one-block check means."""
from __future__ import annotations

import json
import random

import pytest
import torch

import engine
from engine.decoding.recorder import Recorder
from engine.trace import checks, schema

from hf_tiny import make_gpt2, make_seq2seq

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def hf_models(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("validated")
    return {"hf-gpt2": engine.load("hf:" + str(make_gpt2(tmp, pad_vocab=3))),
            "hf-marian": engine.load("hf:" + str(make_seq2seq(tmp)))}


@pytest.fixture
def finishes(monkeypatch):
    """Every schema.finish call: the trace is first validated in full (any failure fails the test), then
    finished as the caller asked; the numbers_checked flags are collected."""
    flags = []
    real = schema.finish

    def spy(d, numbers_checked=False):
        schema.validate(d)                       # the full validator, every number
        flags.append(numbers_checked)
        return real(d, numbers_checked=numbers_checked)

    monkeypatch.setattr(schema, "finish", spy)
    return flags


CONFIGS = {
    "greedy": {"max_new_tokens": 5},
    "greedy rules": {"max_new_tokens": 6, "repetition_penalty": 1.3, "no_repeat_ngram_size": 2, "min_new_tokens": 3},
    "sample": {"max_new_tokens": 5, "do_sample": True, "seed": 1, "top_k": 10, "num_return_sequences": 2},
    "beam": {"max_new_tokens": 5, "num_beams": 3, "num_return_sequences": 2, "length_penalty": 0.6},
    "beam min": {"max_new_tokens": 5, "num_beams": 2, "min_new_tokens": 5, "early_stopping": "never"},
    "diverse": {"max_new_tokens": 4, "num_beams": 4, "num_beam_groups": 2, "diversity_penalty": 0.5},
    "mbr samples": {"max_new_tokens": 4, "mbr": True, "mbr_num_samples": 3, "seed": 2},
    "mbr nbest": {"max_new_tokens": 4, "mbr": True, "mbr_num_samples": 3, "mbr_source": "nbest"},
}
TEXTS = {"hf-gpt2": "the cat sat on", "hf-marian": "the world is small", "text-gpt": "The king",
         "dates-transformer": "March 3, 1999", "dates-gru-attn": "March 3, 1999", "addition-gru": "12+34"}
RECORDS = [None, {"top_k": 3, "layers": [0], "hidden_states": False}, False]


def _bundle(name, hf_models):
    return hf_models[name] if name in hf_models else engine.load(name)


@pytest.mark.parametrize("name", list(TEXTS))
def test_every_recorder_trace_passes_the_full_validator(name, hf_models, finishes):
    bundle = _bundle(name, hf_models)
    for cname, config in CONFIGS.items():
        for record in RECORDS if cname in ("greedy", "beam") else RECORDS[:1]:
            t = engine.generate(bundle, TEXTS[name], config, record=record)
            assert t.steps, (name, cname)
    traces = engine.generate_batch(bundle, [TEXTS[name], TEXTS[name][:3], TEXTS[name] + " and"],
                                   {"max_new_tokens": 4})        # rows of several inputs, left padding
    assert len(traces) == 3
    n_runs = len(finishes)
    assert all(finishes) and n_runs == len(CONFIGS) + 2 * (len(RECORDS) - 1) + 3   # the shortcut was taken
    engine.teacher_forced(bundle, TEXTS[name], "12" if name == "addition-gru" else "the dog")
    engine.compare_tf_fr(bundle, TEXTS[name], "46" if name == "addition-gru" else "the dog sat")
    assert len(finishes) > n_runs                                 # validated in full above as well


@pytest.mark.parametrize("name", ["hf-gpt2", "hf-marian", "text-gpt"])
def test_recorded_blocks_reach_the_trace(name, hf_models, finishes):
    """The shortcut only matters with recorded blocks: the full recording here has attention of every
    layer and head and the hidden state at every step (so the full validator above read them)."""
    t = engine.generate(_bundle(name, hf_models), TEXTS[name], {"max_new_tokens": 3, "num_beams": 2})
    e = t.steps[-1]["hypotheses"][0]
    assert e["self_attn"] and e["hidden"] and finishes == [True]
    if name == "hf-marian":
        assert e["cross_attn"]


# -- a bad number in a tensor: the full validator decides and names it --------------------------------

def _tamper(monkeypatch, bundle, hook: str, step: int, value: float):
    """The model reports `value` in hook point `hook` at decoding step `step` (row 0, first weight)."""
    model = bundle.model
    real = type(model).decode
    calls = [0]

    def decode(self, *a, **kw):
        out = real(self, *a, **kw)
        if hook in out.hooks:
            if calls[0] == step:
                t = out.hooks[hook].clone()
                t.view(-1)[t.shape[-1] - 1 if hook.startswith("attn.self") else 0] = value
                out.hooks[hook] = t
            calls[0] += 1
        return out

    monkeypatch.setattr(model, "decode", decode.__get__(model))


@pytest.mark.parametrize("name", ["hf-gpt2", "text-gpt"])
@pytest.mark.parametrize("value,want", [(float("nan"), "got nan"), (1.5, "got 1.5"), (-0.25, "got -0.25")])
def test_a_bad_attention_weight_fails_as_before(name, value, want, hf_models, monkeypatch):
    bundle = _bundle(name, hf_models)
    for config in ({"max_new_tokens": 4}, {"max_new_tokens": 4, "num_beams": 2}):
        _tamper(monkeypatch, bundle, "attn.self.0", 2, value)
        with pytest.raises(engine.TraceError, match=r"^trace: steps\[2\]\.hypotheses\[0\]\.self_attn\[0\]\[0\]\[\d+\] "
                                                    r"must be a finite number in \[0, 1\], " + want + "$"):
            engine.generate(bundle, TEXTS[name], config)
        monkeypatch.undo()


def test_a_bad_cross_attention_weight_fails_as_before(hf_models, monkeypatch):
    bundle = hf_models["hf-marian"]
    _tamper(monkeypatch, bundle, "attn.cross.1", 1, 2.0)
    with pytest.raises(engine.TraceError, match=r"^trace: steps\[1\]\.hypotheses\[0\]\.cross_attn\[1\]\[0\]\[0\] "
                                                r"must be a finite number in \[0, 1\], got 2\.0$"):
        engine.generate(bundle, TEXTS["hf-marian"], {"max_new_tokens": 3})


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_a_bad_hidden_state_fails_as_before(value, hf_models, monkeypatch):
    bundle = hf_models["hf-gpt2"]
    model = bundle.model
    real = type(model).decode

    def decode(self, *a, **kw):
        out = real(self, *a, **kw)
        if "hidden.final" in out.hooks:
            h = out.hooks["hidden.final"].clone()
            h[0, -1, 3] = value
            out.hooks["hidden.final"] = h
        return out

    monkeypatch.setattr(model, "decode", decode.__get__(model))
    with pytest.raises(engine.TraceError, match=r"^trace: steps\[0\]\.hypotheses\[0\]\.hidden\[3\] must be a finite "
                                                r"number, got -?(inf|nan)$"):
        engine.generate(bundle, TEXTS["hf-gpt2"], {"max_new_tokens": 2})


def test_recorder_check_turns_the_shortcut_off_only_on_bad_weights():
    rec = Recorder.__new__(Recorder)
    rec.numbers_ok = True
    rec._checked(torch.tensor([[0.0, 1.0], [0.5, 0.25]], dtype=torch.float64))
    rec._checked(torch.zeros(0))                         # nothing to check
    assert rec.numbers_ok
    for w in ([0.5, 1.001], [-0.001], [0.1, float("nan")], [float("nan")], [0.2, float("inf")]):
        rec.numbers_ok = True
        rec._checked(torch.tensor(w, dtype=torch.float64))
        assert not rec.numbers_ok, w


# -- traces from outside: always the full validator ---------------------------------------------------

@pytest.mark.parametrize("field,bad", [("self_attn", 1500), ("self_attn", -1), ("self_attn", True),
                                       ("self_attn", "500"), ("self_attn", None), ("self_attn", [500]),
                                       ("hidden", "NaN"), ("hidden", "Infinity"), ("hidden", True), ("hidden", 1e400)])
def test_load_trace_reads_every_number(field, bad, hf_models):
    """A recorder trace saved, one number changed in the file: load_trace names it (attention is saved in
    integer thousandths; NaN / Infinity are literals, not JSON)."""
    t = engine.generate(hf_models["hf-gpt2"], TEXTS["hf-gpt2"], {"max_new_tokens": 3})
    d = json.loads(t.to_json())
    e = d["steps"][2]["hypotheses"][0]
    marker = 123456789.25
    if field == "self_attn":
        e["self_attn"][1][2][0] = marker
    else:
        e["hidden"][4] = marker
    text = json.dumps(d).replace(repr(marker), bad if isinstance(bad, str) and bad[0] in "NI" else
                                 "1e400" if bad == 1e400 else json.dumps(bad))
    where = r"self_attn\[1\]\[2\]\[0\]" if field == "self_attn" else r"hidden\[4\]"
    with pytest.raises(engine.TraceError, match=r"^trace: steps\[2\]\.hypotheses\[0\]\." + where + " must be"):
        engine.load_trace(text)


def test_numbers_checked_still_checks_nesting_and_shapes(hf_models):
    t = engine.generate(hf_models["hf-gpt2"], TEXTS["hf-gpt2"], {"max_new_tokens": 3})
    base = t.copy().to_dict()
    schema.validate(base, numbers_checked=True)
    cases = {
        "ragged": lambda e: e["self_attn"][0][1].pop(),
        "empty head": lambda e: e["self_attn"][0].__setitem__(1, []),
        "a number for a head": lambda e: e["self_attn"][0].__setitem__(1, 0.5),
        "a list for a weight": lambda e: e["self_attn"][1][0].__setitem__(0, [0.5]),
        "a string for a weight": lambda e: e["self_attn"][1][3].__setitem__(0, "0.5"),
        "a head too many": lambda e: e["self_attn"][1].append(list(e["self_attn"][1][0])),
        "hidden not a list": lambda e: e.__setitem__("hidden", 0.5),
        "hidden nested": lambda e: e.__setitem__("hidden", [[0.5]]),
        "a bad prob": lambda e: e.__setitem__("prob", 1.5),
        "a bad top entry": lambda e: e["top_before"][0].__setitem__("prob", float("nan")),
    }
    for what, change in cases.items():
        d = json.loads(json.dumps(base))
        change(d["steps"][1]["hypotheses"][0])
        with pytest.raises(engine.TraceError):
            schema.validate(d, numbers_checked=True)
            pytest.fail(what)


def test_all_rectangular_means_rectangular_of_each_block():
    rng = random.Random(5)
    for _ in range(3000):
        blocks = [[[[0.5] * rng.choice([0, 1, 2, 2, 2]) for _ in range(rng.choice([0, 1, 2, 2]))]
                   for _ in range(rng.choice([0, 1, 2, 2]))] for _ in range(rng.choice([0, 1, 2, 3]))]
        one_by_one = all(all(layer and len(layer[0]) > 0 and len({len(h) for h in layer}) == 1 for layer in b)
                         for b in blocks)
        assert checks.all_rectangular(blocks) == one_by_one, blocks
        assert all(checks.rectangular(b) == checks.all_rectangular([b]) for b in blocks)
