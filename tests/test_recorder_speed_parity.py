"""The speed work of issue 12 changes no output: the recorder's batched conversion gives the records the
reference path gives (the recorder as it was, kept here verbatim), the HF wrapper's prebuilt positions
and attention mask give the same logits and weights bit for bit, beam search scores with
rules.length_normalized, and the rules' cheaper checks keep their meaning."""
from __future__ import annotations

import math

import pytest
import torch

import engine
from engine.decoding import rules as R
from engine.decoding.recorder import ATTN_DECIMALS, Recorder, g, round_tensor
from engine.trace import schema

from hf_tiny import make_gpt2, make_llama, make_seq2seq


# -- the reference path: Recorder.steps before the speed work, one conversion per quantity --------------

def reference_top_list(rec: Recorder, logp):
    logp = logp[..., :len(rec._names)]
    k = min(rec.record.top_k, logp.shape[-1])
    if k <= 0:
        return [[] for _ in range(logp.shape[0])]
    vals, idx = torch.topk(logp, k, dim=-1)
    probs, idx = vals.exp().tolist(), idx.tolist()
    return [[schema.top_entry(id=i, token=rec._names[i], prob=float(f"{p:.5g}"))
             for i, p in zip(ir, pr)] for ir, pr in zip(idx, probs)]


def reference_attention(rec: Recorder, hooks, idx, rows, src_lens):
    selfs = crosses = None
    if rec.self_hooks:
        sa = round_tensor(torch.stack([hooks[n][:, :, -1, :] for n in rec.self_hooks], 1).index_select(0, idx),
                          ATTN_DECIMALS)
        km = hooks["key_mask"].index_select(0, idx) if rec.key_mask else None
        if km is None or bool(km.all()):
            selfs = sa.tolist()
        else:
            selfs = [sa[j][:, :, km[j]].tolist() for j in range(rows)]
    if rec.cross_hooks:
        ca = round_tensor(torch.stack([hooks[n][:, :, -1, :] for n in rec.cross_hooks], 1).index_select(0, idx),
                          ATTN_DECIMALS)
        crosses = [ca[j][:, :, :src_lens[j]].tolist() if src_lens else ca[j].tolist() for j in range(rows)]
    return selfs, crosses


def reference_steps(rec: Recorder, rows, raw_logp, proc_logp, out, *, extra, chosen=None, key_labels=None,
                    src_lens=None):
    idx = torch.as_tensor(list(rows), dtype=torch.long, device=raw_logp.device)
    same = proc_logp is raw_logp
    raw = raw_logp.index_select(0, idx)
    proc = raw if same else proc_logp.index_select(0, idx)
    ent_raw = torch.special.entr(raw.exp()).sum(-1).tolist()
    ent = ent_raw if same else torch.special.entr(proc.exp()).sum(-1).tolist()
    tops_b = reference_top_list(rec, raw)
    tops_a = [list(x) for x in tops_b] if same else reference_top_list(rec, proc)
    if chosen is not None:
        cidx = torch.as_tensor([c if c is not None else 0 for c in chosen], dtype=torch.long)[:, None]
        c_proc = proc.gather(1, cidx)[:, 0].tolist()
        c_raw = raw.gather(1, cidx)[:, 0].tolist()
    selfs, crosses = reference_attention(rec, out.hooks, idx, len(rows), src_lens)
    hidden = round_tensor(out.hooks["hidden.final"][:, -1].index_select(0, idx)).tolist() if rec.hidden else None
    recs = []
    for j in range(len(rows)):
        c = chosen[j] if chosen is not None else None
        recs.append(schema.step_hypothesis(
            **extra[j], token_id=c, token=rec.name(c) if c is not None else None,
            prob=g(math.exp(c_proc[j])) if c is not None else None,
            logprob=g(c_proc[j]) if c is not None else None,
            raw_logprob=g(c_raw[j]) if c is not None else None,
            entropy=g(ent[j]), entropy_raw=g(ent_raw[j]), top_before=tops_b[j], top_after=tops_a[j],
            self_attn=selfs[j] if selfs is not None else None,
            self_attn_keys=key_labels[j] if (selfs is not None and key_labels) else [],
            cross_attn=crosses[j] if crosses is not None else None,
            hidden=hidden[j] if hidden is not None else None))
    return recs


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("speed")
    return {"gpt2": make_gpt2(tmp, pad_vocab=3), "llama": make_llama(tmp), "marian": make_seq2seq(tmp)}


@pytest.fixture
def checked(monkeypatch):
    """Every Recorder.steps call also runs the reference path on the same tensors; the records must be equal."""
    calls = []
    fast = Recorder.steps

    def both(self, rows, raw_logp, proc_logp, out, **kw):
        got = fast(self, rows, raw_logp, proc_logp, out, **kw)
        want = reference_steps(self, list(rows), raw_logp, proc_logp, out, **kw)
        assert got == want
        calls.append(len(got))
        return got

    monkeypatch.setattr(Recorder, "steps", both)
    return calls


CASES = [
    ("greedy", {"max_new_tokens": 6}),
    ("greedy rules", {"max_new_tokens": 7, "repetition_penalty": 1.3, "no_repeat_ngram_size": 2, "min_new_tokens": 3}),
    ("sample", {"max_new_tokens": 5, "do_sample": True, "seed": 1, "top_k": 10, "num_return_sequences": 3}),
    ("beam", {"max_new_tokens": 6, "num_beams": 3, "min_new_tokens": 6, "length_penalty": 0.6}),
    ("diverse", {"max_new_tokens": 5, "num_beams": 4, "num_beam_groups": 2, "diversity_penalty": 0.7}),
]


@pytest.mark.parametrize("arch", ["gpt2", "marian"])
@pytest.mark.parametrize("name,config", CASES, ids=[c[0] for c in CASES])
def test_records_equal_the_reference_path(folders, checked, arch, name, config):
    bundle = engine.load("hf:" + str(folders[arch]))
    text = "the world is small" if arch == "marian" else "the cat sat on"
    for record in (None, {"top_k": 3, "layers": [1], "hidden_states": False}):
        engine.generate(bundle, text, config, record=record)
    assert checked and sum(checked) >= config["max_new_tokens"]


@pytest.mark.parametrize("arch", ["gpt2", "marian"])
def test_batch_records_equal_the_reference_path(folders, checked, arch):
    """Rows of several inputs (index_select), left padding (the key mask drops keys row by row) and
    sources of different lengths (cross attention cut per row)."""
    bundle = engine.load("hf:" + str(folders[arch]))
    texts = ["the cat sat on the mat and", "a", "hello world"]
    traces = engine.generate_batch(bundle, texts, {"max_new_tokens": 4, "num_return_sequences": 2,
                                                   "do_sample": True, "seed": 2})
    assert len(traces) == 3 and len(checked) >= 4


def test_shipped_model_records_equal_the_reference_path(checked):
    engine.generate("dates-transformer", "March 3, 1999", {"max_new_tokens": 5, "num_beams": 2})
    engine.generate("text-gpt", "The king", {"max_new_tokens": 5})
    assert len(checked) >= 10


# -- the HF wrapper's prebuilt positions and mask -------------------------------------------------------

@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_prebuilt_step_inputs_change_nothing(folders, arch):
    """Positions and the eager 4-D mask passed by the wrapper give the logits, weights and hidden state HF
    gives when it builds them itself (bit for bit), with and without attention weights."""
    bundle = engine.load("hf:" + str(folders[arch]))
    model = bundle.model
    assert model._plain
    hooks = tuple(n for n in model.hook_names if n.startswith("attn.self.")) + ("hidden.final",)
    ids = torch.tensor([[5, 9, 12, 7]]).repeat(3, 1)
    results = {}
    for plain in (True, False):
        model._plain = plain
        try:
            for kw in ({"hooks": hooks}, {}):
                state, _ = model.start(batch_size=3)
                out = model.decode(ids, state, **kw)
                steps = [out]
                for tok in (3, 4, 8, 2):
                    out = model.decode(torch.full((3, 1), tok), out.state, **kw)
                    steps.append(out)
                results[plain, bool(kw)] = steps
        finally:
            model._plain = True
    for weights in (True, False):
        for a, b in zip(results[True, weights], results[False, weights]):
            assert torch.equal(a.logits, b.logits)
            assert a.hooks.keys() == b.hooks.keys()
            for k in a.hooks:
                assert torch.equal(a.hooks[k], b.hooks[k]), k


def test_prebuilt_step_inputs_only_for_plain_causal_lms(folders):
    assert not engine.load("hf:" + str(folders["marian"])).model._plain


# -- beam search scores with the one length normalisation -----------------------------------------------

@pytest.mark.parametrize("lp", [0.0, 0.6, 1.0, 2.0, -1.0])
def test_length_normalized_is_hf_division(lp):
    for score in (-0.1, -3.7, -12.345678, -1e-30, -250.0):
        for length in (1, 2, 3, 7, 64, 1000):
            assert R.length_normalized(score, length, lp) == score / (length ** lp)


def test_beam_node_scores_use_length_normalized(folders, monkeypatch):
    calls = []
    real = R.length_normalized

    def spy(score, length, lp):
        calls.append((score, length, lp))
        return real(score, length, lp)

    import engine.decoding.beam as beam
    monkeypatch.setattr(beam, "length_normalized", spy)
    t = engine.generate(engine.load("hf:" + str(folders["gpt2"])), "the cat",
                        {"max_new_tokens": 4, "num_beams": 2, "length_penalty": 0.7})
    nodes = t.beam["nodes"][1:]
    assert len(calls) >= len(nodes) and all(lp == 0.7 for _, _, lp in calls)
    scored = {(g(s), length): g(real(s, length, lp)) for s, length, lp in calls}
    for n in nodes:            # each node's score: its cumulative log-prob normalised by its length
        assert scored[(n["cum_logprob"], n["step"] + 1)] == n["score"]


# -- the rules' cheaper checks --------------------------------------------------------------------------

def test_rules_fast_row_check_keeps_its_meaning():
    """A row whose sum overflows but holds only finite scores stays; NaN and +inf rows are removed."""
    cfg = engine.GenerationConfig(repetition_penalty=2.0)
    big = torch.full((3, 8), 3e38)
    big[1, 2] = float("nan")
    big[2, 5] = float("inf")
    out = R.apply_rules(big, cfg, [[0], [0], [0]], [1, 1, 1], 7, False)
    assert torch.isfinite(out[0]).all()
    assert torch.isneginf(out[1]).all() and torch.isneginf(out[2]).all()


def test_min_new_tokens_every_row_and_some_rows():
    x = torch.randn(3, 10)
    for n_generated in ([0, 0, 0], [0, 5, 1]):
        for eos in (4, torch.tensor([[2], [7]])):
            want = x.clone()
            rows = [i for i, n in enumerate(n_generated) if n < 2]
            want[rows, eos] = float("-inf")
            assert torch.equal(R.min_new_tokens(x, n_generated, 2, eos), want)


# -- the garbage collector is paused during a run, and only then ----------------------------------------

def test_gc_paused_during_a_run_and_restored(folders):
    import gc
    bundle = engine.load("hf:" + str(folders["gpt2"]))
    during = []
    progress = lambda step, total: during.append(gc.isenabled())  # noqa: E731
    assert gc.isenabled()
    engine.generate(bundle, "the cat", {"max_new_tokens": 3}, progress=progress)
    assert during and not any(during) and gc.isenabled()

    def fail(step, total):
        raise RuntimeError("cancelled")

    with pytest.raises(RuntimeError):
        engine.generate(bundle, "the cat", {"max_new_tokens": 3, "num_beams": 2}, progress=fail)
    assert gc.isenabled()
    gc.disable()
    try:
        engine.generate(bundle, "the cat", {"max_new_tokens": 2})
        assert not gc.isenabled()          # a collector turned off by the caller stays off
    finally:
        gc.enable()


def test_run_objects_go_to_the_oldest_generation(folders):
    """After a run the trace is not in the young generation (no young collection walks it when the
    collector comes back on); a process that froze objects of its own keeps them frozen."""
    import gc
    bundle = engine.load("hf:" + str(folders["gpt2"]))
    t = engine.generate(bundle, "the cat", {"max_new_tokens": 3, "num_beams": 2})
    block = t.steps[1]["hypotheses"][0]["self_attn"]
    young = {id(o) for o in gc.get_objects(0)} | {id(o) for o in gc.get_objects(1)}
    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert id(block) not in young and id(t.steps) not in young and gc.is_tracked(block)
    mine = [[1.5]]
    gc.freeze()
    try:
        t2 = engine.generate(bundle, "the cat", {"max_new_tokens": 3})
        assert gc.isenabled() and gc.get_freeze_count() > 0 and t2.steps[0]["hypotheses"][0]["self_attn"]
        assert all(id(mine) not in {id(o) for o in gc.get_objects(g)} for g in range(3))   # still frozen
    finally:
        gc.unfreeze()


# -- the HF cache is not copied when a beam step keeps every row in place --------------------------------

@pytest.mark.parametrize("index", [[0, 1, 2], [2, 0, 0], [0, 1]])
def test_reorder_in_place_rows(folders, index):
    """reorder_state with rows kept in place copies nothing; any other index copies; either way the states
    from before are stale and the cache holds exactly index_select of the rows."""
    model = engine.load("hf:" + str(folders["gpt2"])).model
    state, _ = model.start(batch_size=3)
    out = model.decode(torch.tensor([[5, 9, 12], [7, 3, 2], [4, 4, 8]]), state)
    layer = out.state.cache.layers[0]
    keys, want = layer.keys, layer.keys.index_select(0, torch.tensor(index))
    new = model.reorder_state(out.state, torch.tensor(index))
    assert torch.equal(layer.keys, want) and new.batch_size == len(index)
    assert (layer.keys is keys) == (index == [0, 1, 2])
    with pytest.raises(ValueError, match="stale"):
        model.decode(torch.tensor([[1]] * 3), out.state)
    model.decode(torch.tensor([[1]] * len(index)), new)
