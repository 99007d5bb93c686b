"""Decoding engine: config validation, the rules on worked examples, strategy equivalences, the beam
graph, exact search on an enumerable model, seeds, batching, MBR, traces, TF vs FR, bad inputs."""
import itertools
import json
import math

import pytest
import torch

import engine
from engine.checkpoint import Bundle
from engine.decoding import rules as P
from engine.decoding.beam import BeamHypotheses, beam_search
from engine.decoding.config import GenerationConfig, RecordOptions
from engine.decoding.inputs import prepare
from engine.decoding.mbr import mbr_section, utility_matrix
from engine.decoding.recorder import Recorder
from engine.models import GPT, GPTConfig, SeqModel, StepOutput
from engine.rollout import never_emit_ids
from engine.tokenizer import EOS, Tokenizer


@pytest.fixture(scope="module", autouse=True)
def one_thread(one_torch_thread):
    """These tests run with one torch thread (see conftest.one_torch_thread)."""


@pytest.fixture(scope="module")
def gru():
    return engine.load("dates-gru-attn")


@pytest.fixture(scope="module")
def tiny():
    """A random 1-layer GPT over {a, b, c} with peaked distributions: every sequence can be enumerated."""
    torch.manual_seed(0)
    tok = Tokenizer.train_char(["abc"])
    cfg = GPTConfig(vocab_size=tok.vocab_size, d_model=16, n_layers=1, n_heads=2, d_ff=32, dropout=0.0, max_len=8)
    model = GPT(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.6)
    model.eval()
    config = {"name": "tiny", "arch": "gpt", "task": "tiny", "kind": "lm", "model": vars(cfg)}
    return Bundle("tiny", model, tok, config)


def strip_timing(d):
    d = json.loads(json.dumps(d))
    d["timing"] = None
    return d


# -- configuration ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kw,name", [
    ({"temperature": 0}, "temperature"), ({"top_p": 0}, "top_p"), ({"top_p": 1.5}, "top_p"),
    ({"top_k": -1}, "top_k"), ({"num_beams": 0}, "num_beams"), ({"max_new_tokens": 0}, "max_new_tokens"),
    ({"num_beams": 4, "num_beam_groups": 3}, "num_beam_groups"), ({"early_stopping": "sometimes"}, "early_stopping"),
    ({"num_beams": 2, "num_return_sequences": 3}, "num_return_sequences"), ({"num_return_sequences": 2}, "num_return_sequences"),
    ({"diversity_penalty": 1.0}, "diversity_penalty"), ({"min_new_tokens": 50, "max_new_tokens": 10}, "min_new_tokens"),
    ({"repetition_penalty": 0}, "repetition_penalty"), ({"mbr_utility": "rouge"}, "mbr_utility"),
    ({"do_sample": "yes"}, "do_sample"), ({"num_beams": True}, "num_beams"), ({"typical_p": 0.0}, "typical_p"),
    ({"epsilon_cutoff": 1.0}, "epsilon_cutoff"), ({"seed": -3}, "seed"), ({"temperature": float("nan")}, "temperature"),
])
def test_config_rejects_bad_values_naming_the_parameter(kw, name):
    with pytest.raises(ValueError) as e:
        GenerationConfig(**kw)
    msg = str(e.value)
    assert msg.startswith(name + "=") and "\n" not in msg


def test_config_strategy_and_dict_round_trip():
    assert GenerationConfig().strategy == "greedy"
    assert GenerationConfig(do_sample=True).strategy == "sample"
    assert GenerationConfig(num_beams=4).strategy == "beam"
    assert GenerationConfig(num_beams=4, num_beam_groups=2, diversity_penalty=0.5).strategy == "diverse_beam"
    assert GenerationConfig(mbr=True).strategy == "mbr"
    c = GenerationConfig(num_beams=3, length_penalty=0.6, early_stopping="never")
    assert GenerationConfig.from_dict(c.to_dict()) == c
    with pytest.raises(ValueError, match="unknown generation parameter"):
        GenerationConfig.from_dict({"beams": 3})
    with pytest.raises(ValueError, match="layers"):
        RecordOptions(layers="some")


# -- rules on worked examples ---------------------------------------------------------------------

def test_repetition_penalty_hf_form_and_additive_form():
    s = torch.tensor([[2.0, -1.0, 0.5, 3.0]])
    seen = torch.tensor([[True, True, False, False]])
    assert P.repetition_penalty(s, seen, 2.0).tolist() == [[1.0, -2.0, 0.5, 3.0]]
    add = P.additive_repetition_penalty(s, seen, 1.5)
    ref = torch.log_softmax(s, -1) - 1.5 * seen.float()
    assert torch.allclose(add, ref)
    assert P.repetition_penalty(s, seen, 1.0) is s
    assert P.seen_mask([[0, 1, 1], []], 4).tolist() == [[True, True, False, False], [False] * 4]


def test_no_repeat_ngram_and_min_new_tokens():
    assert P.banned_ngram_tokens([1, 2, 3, 1, 2], 3) == [3]
    assert P.banned_ngram_tokens([1, 2, 1, 2, 1], 2) == [2]
    assert P.banned_ngram_tokens([5, 6], 1) == [5, 6]
    assert P.banned_ngram_tokens([1], 3) == []
    s = torch.zeros(2, 5)
    out = P.no_repeat_ngram(s, [[1, 2, 3, 1, 2], [4]], 3)
    assert out[0, 3] == float("-inf") and torch.isfinite(out[1]).all() and torch.isfinite(s).all()
    m = P.min_new_tokens(torch.zeros(2, 5), [1, 3], 2, EOS)
    assert m[0, EOS] == float("-inf") and m[1, EOS] == 0


def test_temperature_top_k_with_ties():
    s = torch.tensor([[1.0, 2.0, 2.0, 0.0]])
    assert P.temperature(s, 0.5).tolist() == [[2.0, 4.0, 4.0, 0.0]]
    k2 = P.top_k(s, 2)
    assert torch.isfinite(k2).tolist() == [[False, True, True, False]]
    k1 = P.top_k(s, 1)  # a tie with the k-th best is kept (HF)
    assert torch.isfinite(k1).tolist() == [[False, True, True, False]]
    assert torch.equal(P.top_k(s, None), s)


def test_top_p_min_p_epsilon_typical_worked_examples():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    s = probs.log()
    assert torch.isfinite(P.top_p(s, 0.8)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(P.top_p(s, 0.81)).tolist() == [[True, True, True, False]]
    assert torch.isfinite(P.top_p(s, 0.01)).tolist() == [[True, False, False, False]]  # keeps >= 1
    assert torch.isfinite(P.min_p(s, 0.2)).tolist() == [[True, True, True, False]]
    assert torch.isfinite(P.epsilon_cutoff(s, 0.2)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(P.epsilon_cutoff(s, 0.9)).tolist() == [[True, False, False, False]]
    # typical: entropy H; tokens ordered by |-log p - H|, kept until their mass reaches typical_p
    H = -(probs * probs.log()).sum()
    order = torch.argsort((-probs.log() - H).abs()[0]).tolist()
    kept = torch.isfinite(P.typical_p(s, 0.2))[0].tolist()
    assert kept[order[0]] and sum(kept) == 1
    kept = torch.isfinite(P.typical_p(s, 0.6))[0]
    mass = probs[0][kept].sum()
    assert mass >= 0.6 - 1e-6 and sum(kept) < 4


def test_neutral_values_leave_the_distribution_unchanged():
    torch.manual_seed(1)
    s = torch.randn(3, 50) * 3
    for out in (P.top_p(s, 1.0), P.typical_p(s, 1.0), P.min_p(s, 0.0), P.min_p(s, None), P.epsilon_cutoff(s, 0.0),
                P.top_k(s, 0), P.temperature(s, 1.0)):
        assert torch.equal(out, s)
    # and through the whole pipeline
    cfg = GenerationConfig(do_sample=True, top_p=1.0, typical_p=1.0, min_p=0.0)
    assert torch.equal(P.apply_rules(s, cfg, [[1], [2], []], [1, 1, 0], EOS, warp=True), s)


def test_hamming_diversity():
    s = torch.zeros(2, 5)
    out = P.hamming_diversity(s, [3, 3, 1], 0.5)
    assert out[0].tolist() == [0, -0.5, 0, -1.0, 0] and out[1].tolist() == out[0].tolist()


# -- strategies ----------------------------------------------------------------------------------

def test_one_beam_equals_greedy(text_gpt, dates, gru):
    for b, text in ((text_gpt, "The default value of"), (dates, "3 March 2021"), (gru, "march 3rd, 1999")):
        greedy = engine.generate(b, text, {"max_new_tokens": 16}, record=False)
        prep = prepare(b, text, 16)
        res = beam_search(b, prep, GenerationConfig(max_new_tokens=16), Recorder(b, RecordOptions.off()),
                          num_beams=1, num_return=1)
        assert res["hypotheses"][0]["token_ids"] == greedy.hypotheses[0]["token_ids"]


def test_top_k_1_sampling_and_tiny_temperature_equal_greedy(text_gpt, dates):
    for b, text in ((text_gpt, "A function is"), (dates, "Wed 3 Mar 21")):
        greedy = engine.generate(b, text, {"max_new_tokens": 8}, record=False).hypotheses[0]["token_ids"]
        for seed in range(3):
            s = engine.generate(b, text, {"max_new_tokens": 8, "do_sample": True, "top_k": 1, "seed": seed}, record=False)
            assert s.hypotheses[0]["token_ids"] == greedy
        t = engine.generate(b, text, {"max_new_tokens": 8, "do_sample": True, "temperature": 1e-4, "seed": 7},
                            record=False)
        assert t.hypotheses[0]["token_ids"] == greedy


def test_scores_are_sums_over_length_penalty(dates):
    t = engine.generate(dates, "the 3rd of march 2021", {"num_beams": 4, "num_return_sequences": 4,
                                                         "length_penalty": 0.7})
    for h in t.hypotheses:
        assert h["score"] == pytest.approx(sum(h["token_logprobs"]), abs=1e-4)
        assert h["normalized_score"] == pytest.approx(h["score"] / len(h["token_ids"]) ** 0.7, rel=1e-4)
        assert h["search_score"] == pytest.approx(h["normalized_score"], rel=1e-3)  # no rule changed the scores
    ss = [h["search_score"] for h in t.hypotheses]
    assert ss == sorted(ss, reverse=True)


def _all_sequences(bundle, max_new):
    """Every complete sequence (ends with <eos>, or reaches max_new) and its exact log-prob. The tokens a
    free run never emits (<pad>, <bos>, <unk>: engine.rollout's special-token rule) are left out and
    masked, as in the search."""
    never = never_emit_ids(bundle.tokenizer)
    body_ids = [v for v in range(bundle.tokenizer.vocab_size) if v != EOS and v not in never]
    seqs = []
    for n in range(1, max_new + 1):
        for body in itertools.product(body_ids, repeat=n - 1):
            seqs.append(list(body) + [EOS])
        if n == max_new:
            seqs += [list(body) for body in itertools.product(body_ids, repeat=n)]
    scores = [0.0] * len(seqs)
    with torch.no_grad():
        for n in range(1, max_new + 1):            # one batched teacher-forced pass per length
            idx = [i for i, s in enumerate(seqs) if len(s) == n]
            tgt = torch.tensor([seqs[i] for i in idx])
            inp = torch.cat([torch.ones(len(idx), 1, dtype=torch.long), tgt[:, :-1]], 1)
            state, _ = bundle.model.start(batch_size=len(idx))
            logits = bundle.model.decode(inp, state).logits.index_fill(-1, torch.tensor(never), float("-inf"))
            lp = torch.log_softmax(logits, -1)
            tot = lp.gather(2, tgt[:, :, None])[:, :, 0].sum(1).tolist()
            for i, v in zip(idx, tot):
                scores[i] = v
    return seqs, scores


def test_wide_beam_finds_the_exact_best_and_no_beam_beats_it(tiny):
    seqs, scores = _all_sequences(tiny, 3)
    best = max(range(len(seqs)), key=lambda i: scores[i])
    wide = engine.generate(tiny, "", {"max_new_tokens": 3, "num_beams": 64, "length_penalty": 0.0}, record=False)
    h = wide.hypotheses[0]
    assert h["token_ids"] == seqs[best]
    assert h["search_score"] == pytest.approx(scores[best], abs=1e-4)
    for k in (1, 2, 3, 5):
        t = engine.generate(tiny, "", {"max_new_tokens": 3, "num_beams": k, "length_penalty": 0.0}, record=False)
        assert t.hypotheses[0]["search_score"] <= scores[best] + 1e-5


@pytest.mark.parametrize("cfg", [
    {"max_new_tokens": 14, "num_beams": 4, "num_return_sequences": 4},
    {"max_new_tokens": 14, "num_beams": 6, "num_beam_groups": 3, "diversity_penalty": 1.0, "num_return_sequences": 3},
    {"max_new_tokens": 14, "num_beams": 3, "early_stopping": True, "length_penalty": 2.0},
    {"max_new_tokens": 14, "num_beams": 3, "early_stopping": "never", "no_repeat_ngram_size": 2},
])
def test_beam_graph_rebuilds_hypotheses(gru, cfg):
    t = engine.generate(gru, "sat 7 jun 03", cfg)
    nodes = {n["id"]: n for n in t.beam["nodes"]}
    assert nodes[0]["parent"] is None and nodes[0]["step"] == -1
    for n in t.beam["nodes"][1:]:
        p = nodes[n["parent"]]
        assert n["step"] == p["step"] + 1
        assert n["cum_logprob"] == pytest.approx(p["cum_logprob"] + n["logprob"], abs=2e-4)
        assert n["status"] in ("kept", "finished", "pruned")
        assert p["status"] in ("kept", "pruned")  # a child's parent was kept (pruned later if never extended)
        depth = n["step"] + 1
        assert n["score"] == pytest.approx(n["cum_logprob"] / depth ** cfg.get("length_penalty", 1.0), abs=2e-4)
    for h in t.hypotheses:
        ids, node = [], nodes[h["node"]]
        while node["parent"] is not None:
            ids.append(node["token_id"])
            node = nodes[node["parent"]]
        assert ids[::-1] == h["token_ids"]
        assert nodes[h["node"]]["status"] == "finished"
    # per step and group: the candidates are the 2 * group_size best (kept ∪ finished ∪ pruned = candidates)
    gs = cfg["num_beams"] // cfg.get("num_beam_groups", 1)
    by = {}
    for n in t.beam["nodes"][1:]:
        by.setdefault((n["step"], n["group"]), []).append(n)
    for (step, grp), cands in by.items():
        assert len(cands) == min(2 * gs, 66 * len([m for m in t.beam["nodes"] if m["step"] == step - 1
                                                   and m["group"] == grp and m["status"] == "kept"] or [0]))
        assert sum(c["status"] == "kept" for c in cands) <= gs
        # a kept node is a live hypothesis of the next step (its children may all fall outside the 2K)
        live_next = {h["node"] for h in t.steps[step + 1]["hypotheses"]} if step + 1 < len(t.steps) else set()
        for c in cands:
            if c["status"] == "kept":
                assert c["id"] in live_next


def test_diverse_groups_differ(text_gpt):
    plain = engine.generate(text_gpt, "The default value of", {"max_new_tokens": 8, "num_beams": 4,
                                                                "num_return_sequences": 4}, record=False)
    div = engine.generate(text_gpt, "The default value of", {"max_new_tokens": 8, "num_beams": 4, "num_beam_groups": 4,
                                                              "diversity_penalty": 5.0, "num_return_sequences": 4},
                          record=False)
    first = lambda t: {h["token_ids"][0] for h in t.hypotheses}
    assert len(first(div)) > len(first(plain)) or len(first(div)) == 4


def test_same_seed_same_trace_and_different_seed_differs(text_gpt):
    cfg = {"max_new_tokens": 10, "do_sample": True, "top_p": 0.95, "seed": 11}
    a = engine.generate(text_gpt, "The", cfg)
    b = engine.generate(text_gpt, "The", cfg)
    assert strip_timing(a.to_dict()) == strip_timing(b.to_dict())
    c = engine.generate(text_gpt, "The", dict(cfg, seed=12), record=False)
    assert c.hypotheses[0]["token_ids"] != a.hypotheses[0]["token_ids"]
    unseeded = engine.generate(text_gpt, "The", dict(cfg, seed=None), record=False)
    assert isinstance(unseeded.seed, int)
    again = engine.generate(text_gpt, "The", dict(cfg, seed=unseeded.seed), record=False)
    assert again.hypotheses[0]["token_ids"] == unseeded.hypotheses[0]["token_ids"]


@pytest.mark.parametrize("cfg", [{"max_new_tokens": 8}, {"max_new_tokens": 8, "do_sample": True, "seed": 5,
                                                         "num_return_sequences": 2, "top_k": 20}])
def test_batched_equals_one_at_a_time(text_gpt, dates, cfg):
    rec = engine.RecordOptions(top_k=3, layers=[0])
    for b, texts in ((text_gpt, ["The default value of", "A", "If the file is not found, the"]),
                     (dates, ["3 March 2021", "the first of january, two thousand"])):
        batch = engine.generate_batch(b, texts, cfg, record=rec)
        for t, text in zip(batch, texts):
            one = engine.generate(b, text, cfg, record=rec)
            assert [h["token_ids"] for h in t.hypotheses] == [h["token_ids"] for h in one.hypotheses]
            for h1, h2 in zip(t.hypotheses, one.hypotheses):
                assert h1["token_logprobs"] == pytest.approx(h2["token_logprobs"], abs=1e-3)
            s1, s2 = t.steps[0]["hypotheses"][0], one.steps[0]["hypotheses"][0]
            assert len(s1["self_attn"][0][0]) == len(s2["self_attn"][0][0]) == len(s2["self_attn_keys"])
            assert s1["hidden"] == pytest.approx(s2["hidden"], abs=1e-3)


# -- MBR -----------------------------------------------------------------------------------------

def test_mbr_prefers_the_repeated_sample_never_the_outlier():
    texts = ["2021-03-03", "2021-03-03", "2021-03-08", "1999-12-31", "2021-03-03"]
    hyps = [{"text": x, "score": -1.0} for x in texts]
    section, ranked = mbr_section(hyps, "samples", "chrf", weighted=False)
    assert texts[section["chosen"]] == "2021-03-03"
    assert ranked[-1]["text"] == "1999-12-31"
    m, n = utility_matrix(texts, "chrf")
    assert n == 9 and m[0][0] == pytest.approx(1.0) and m[0][3] < 0.5
    for name in ("chrf", "bleu"):
        section, _ = mbr_section([{"text": x, "score": 0.0} for x in ["a dog ran far away", "the cat sat on the mat",
                                                                        "green ideas sleep", "the cat sat on the mat"]],
                                 "samples", name, weighted=False)
        assert section["chosen"] == 1 and min(section["expected_utility"]) < section["expected_utility"][1]


def test_mbr_end_to_end(text_gpt, gru):
    t = engine.generate(text_gpt, "The default", {"max_new_tokens": 8, "mbr": True, "mbr_num_samples": 6, "seed": 2,
                                                  "top_k": 10})
    assert t.strategy == "mbr" and len(t.mbr["candidates"]) == 6
    eu = t.mbr["expected_utility"]
    assert t.mbr["chosen"] == eu.index(max(eu))
    assert t.hypotheses[0]["text"] == t.mbr["candidates"][t.mbr["chosen"]]
    assert len(t.steps[0]["hypotheses"]) == 6
    n = engine.generate(gru, "3rd of Mar 2021", {"max_new_tokens": 12, "mbr": True, "mbr_num_samples": 4,
                                                  "mbr_source": "nbest", "mbr_utility": "bleu"})
    assert n.beam is not None and n.mbr["source"] == "nbest" and len(n.mbr["matrix"]) == len(n.mbr["candidates"])
    r = engine.rerank(engine.generate(gru, "3rd of Mar 2021", {"num_beams": 4, "num_return_sequences": 4}),
                      reference="2021-03-03")
    assert r.hypotheses[0]["text"] == "2021-03-03"


# -- traces ----------------------------------------------------------------------------------------

def test_trace_json_round_trip_and_keys(tmp_path, dates):
    t = engine.generate(dates, "Wed 3 Mar 21", {"num_beams": 3, "num_return_sequences": 2})
    d = t.to_dict()
    for k in ("format_version", "model", "config", "hypotheses", "steps", "beam"):
        assert k in d
    for k in ("text", "tokens", "token_ids", "token_logprobs", "score", "normalized_score"):
        assert k in d["hypotheses"][0]
    for k in ("id", "parent", "step", "token", "logprob", "cum_logprob", "score", "status"):
        assert k in d["beam"]["nodes"][1]
    p = t.save(tmp_path / "t.json")
    back = engine.load_trace(p)
    assert back == t and back.hypotheses == t.hypotheses
    assert engine.load_trace(p.read_bytes()) == t
    assert engine.load_trace(p.read_text()) == t
    assert engine.Trace.from_dict(json.loads(p.read_text())).to_dict() == d
    assert d["encoder_attention"] is not None and len(d["encoder_attention"]) == 2


def test_load_trace_refuses_bad_files(tmp_path, monkeypatch, dates):
    good = engine.generate(dates, "Wed 3 Mar 21", {"max_new_tokens": 4}, record=False).to_dict()
    with pytest.raises(engine.TraceError, match="not valid JSON"):
        engine.load_trace(b"{not json")
    with pytest.raises(engine.TraceError, match="format_version"):
        engine.load_trace(json.dumps(dict(good, format_version=3)))
    bad = dict(good)
    del bad["hypotheses"]
    with pytest.raises(engine.TraceError, match="hypotheses"):
        engine.load_trace(json.dumps(bad))
    bad = json.loads(json.dumps(good))
    bad["hypotheses"][0]["score"] = "high"
    with pytest.raises(engine.TraceError, match=r"hypotheses\[0\]\.score"):
        engine.load_trace(json.dumps(bad))
    with pytest.raises(engine.TraceError, match="no such trace file"):
        engine.load_trace(tmp_path / "missing.json")
    import engine.trace.io as T
    monkeypatch.setattr(T, "MAX_TRACE_BYTES", 1000)
    f = tmp_path / "big.json"
    f.write_text(json.dumps(good))
    with pytest.raises(engine.TraceError, match="limit"):
        engine.load_trace(f)
    with pytest.raises(engine.TraceError, match="record less"):
        engine.Trace(good).save(tmp_path / "too-big.json")
    assert not (tmp_path / "too-big.json").exists()
    assert issubclass(engine.TraceError, ValueError)


def test_recording_contents_and_options(text_gpt, gru):
    t = engine.generate(text_gpt, "The default value of", {"max_new_tokens": 5, "do_sample": True, "top_p": 0.5,
                                                           "seed": 0})
    s = t.steps[2]["hypotheses"][0]
    assert len(s["top_before"]) == 20 and len(s["self_attn"]) == 4 and len(s["self_attn"][0]) == 4
    assert len(s["self_attn"][0][0]) == len(s["self_attn_keys"]) == 1 + len(t.input["token_ids"]) + 2
    assert abs(sum(s["self_attn"][1][2]) - 1) < 2e-3 and len(s["hidden"]) == 192 and s["cross_attn"] is None
    after = {e["id"]: e["prob"] for e in s["top_after"]}
    cut = [e for e in s["top_before"] if after.get(e["id"], 0) == 0]
    assert cut, "top_p=0.5 cuts part of the distribution"
    assert s["token_id"] in after and s["prob"] == pytest.approx(after[s["token_id"]], rel=1e-3)
    assert s["entropy"] < s["entropy_raw"]
    small = engine.generate(text_gpt, "The default value of", {"max_new_tokens": 5},
                            record=engine.RecordOptions(top_k=3, layers=[1], hidden_states=False))
    s = small.steps[0]["hypotheses"][0]
    assert len(s["top_before"]) == 3 and len(s["self_attn"]) == 1 and s["hidden"] is None
    off = engine.generate(text_gpt, "The default value of", {"max_new_tokens": 5}, record=False)
    s = off.steps[0]["hypotheses"][0]
    assert s["self_attn"] is None and s["top_before"] == [] and s["token_id"] is not None
    assert off.hypotheses[0]["token_ids"] == small.hypotheses[0]["token_ids"]
    g = engine.generate(gru, "3 march 2021", {"max_new_tokens": 4})
    c = g.steps[1]["hypotheses"][0]["cross_attn"]
    assert len(c) == 1 and len(c[0]) == 1 and len(c[0][0]) == len(g.input["token_ids"])
    with pytest.raises(ValueError, match="layers"):
        engine.generate(text_gpt, "The", record=engine.RecordOptions(layers=[7]))


def test_forced_prefix_and_wrong_note(gru, text_gpt):
    t = engine.generate(gru, "3 march 2021", {"max_new_tokens": 12}, forced_prefix="1999")
    assert t.hypotheses[0]["text"].startswith("1999") and t.forced["prefix"] == t.hypotheses[0]["token_ids"][:4]
    free = engine.generate(gru, "3 march 2021", {"max_new_tokens": 12}).hypotheses[0]["token_ids"]
    w = engine.generate(gru, "3 march 2021", {"max_new_tokens": 12}, forced_tokens={5: "1"})
    ids = w.hypotheses[0]["token_ids"]
    assert ids[:5] == free[:5] and w.tokens if False else True
    assert gru.tokenizer.token_str(ids[5]) == "1" and w.steps[5]["hypotheses"][0]["token"] == "1"
    b = engine.generate(gru, "3 march 2021", {"max_new_tokens": 12, "num_beams": 3}, forced_tokens={0: "1"})
    assert all(h["token_ids"][0] == ids[5] for h in b.hypotheses)
    with pytest.raises(ValueError, match="step 40"):
        engine.generate(gru, "3 march 2021", {"max_new_tokens": 12}, forced_tokens={40: "1"})
    with pytest.raises(ValueError, match="not a single token"):
        engine.generate(gru, "3 march 2021", forced_tokens={0: "xyz"})


def test_bad_inputs(dates, text_gpt):
    with pytest.raises(ValueError, match="empty"):
        engine.generate(dates, "   ")
    t = engine.generate(dates, "3 march 2021 ☃", {"max_new_tokens": 4})
    assert any("<unk>" in w for w in t.warnings)
    with pytest.raises(ValueError, match="at most 64"):
        engine.generate(dates, "1" * 80)
    with pytest.raises(ValueError, match="top_p"):
        engine.generate(dates, "3 march 2021", {"top_p": 2})
    with pytest.raises(ValueError, match="unknown generation parameter"):
        engine.generate(dates, "3 march 2021", {"beam": 2})
    with pytest.raises(ValueError, match="must be a string"):
        engine.generate(dates, 42)
    with pytest.raises(ValueError, match="no checkpoint"):
        engine.generate("no-such-model", "x")
    capped = engine.generate(text_gpt, "word " * 300, {"max_new_tokens": 64}, record=False)
    assert any("capped" in w for w in capped.warnings)
    assert len(capped.hypotheses[0]["token_ids"]) <= 64


# -- teacher forcing vs free running ----------------------------------------------------------------

def test_teacher_forcing_matches_free_running_on_its_own_output(gru, text_gpt):
    for b, src in ((gru, "3 march 2021"), (text_gpt, "The default value of")):
        fr = engine.generate(b, src, {"max_new_tokens": 12})
        out = fr.hypotheses[0]
        ref = out["text"] if b.kind == "seq2seq" else out["token_ids"]
        tf = engine.teacher_forced(b, src, ref)
        assert tf.strategy == "teacher_forced"
        assert tf.hypotheses[0]["token_ids"] == out["token_ids"]
        assert tf.hypotheses[0]["token_logprobs"] == pytest.approx(out["token_logprobs"], abs=1e-3)
        cmp_ = engine.compare_tf_fr(b, src, ref, {"max_new_tokens": 12})
        assert cmp_.first_divergence is None
        assert all(r["on_track"] and r["kl"] < 1e-4 and r["hidden_dist"] < 1e-3 for r in cmp_.rows)


def test_compare_tf_fr_divergence(gru):
    c = engine.compare_tf_fr(gru, "3 march 2021", "2021-04-03")
    assert len(c.rows) == len("2021-04-03") + 1            # + <eos>
    assert c.first_divergence == 6 and c.rows[6]["fr_token"] == "3"
    assert [r["on_track"] for r in c.rows[:7]] == [True] * 7 and not c.rows[7]["on_track"]
    assert c.rows[6]["kl"] < 1e-4 and c.rows[7]["hidden_dist"] > 0
    assert c.rows[6]["tf_logprob"] < c.rows[6]["fr_logprob"] + 1e-6 or True
    w = engine.compare_tf_fr(gru, "3 march 2021", "2021-03-03", forced_tokens={2: "1"})
    assert w.first_divergence == 2 and w.rows[2]["fr_token"] == "1"
    back = engine.TFFRComparison.from_dict(json.loads(json.dumps(w.to_dict())))
    assert back.rows == w.rows and back.fr == w.fr
    with pytest.raises(ValueError, match="empty"):
        engine.teacher_forced(gru, "3 march 2021", "")


# -- every shipped model, every strategy ------------------------------------------------------------

SAMPLE_INPUT = {"dates": "3 march 2021", "addition": "123+4567", "text": "The value", "hmm": "pob"}
CONFIGS = [{"max_new_tokens": 5}, {"max_new_tokens": 5, "do_sample": True, "seed": 1, "top_p": 0.9},
           {"max_new_tokens": 5, "num_beams": 3, "num_return_sequences": 2},
           {"max_new_tokens": 5, "num_beams": 4, "num_beam_groups": 2, "diversity_penalty": 0.5},
           {"max_new_tokens": 5, "mbr": True, "mbr_num_samples": 3, "seed": 0},
           {"max_new_tokens": 5, "mbr": True, "mbr_num_samples": 3, "mbr_source": "nbest", "mbr_utility": "bleu"}]


@pytest.mark.parametrize("name", [m["name"] for m in engine.list_models()])
def test_every_strategy_on_every_shipped_model(name):
    b = engine.load(name)
    text = SAMPLE_INPUT.get(b.task, "12")
    for cfg in CONFIGS:
        t = engine.generate(b, text, cfg, record=engine.RecordOptions(top_k=3))
        assert t.strategy == engine.GenerationConfig(**cfg).strategy and t.hypotheses
        assert engine.load_trace(t.to_json()) == t
    ref = engine.generate(b, text, {"max_new_tokens": 5}, record=False).hypotheses[0]["token_ids"]
    ref = [i for i in ref if i != EOS] or ref
    c = engine.compare_tf_fr(b, text, ref)
    assert len(c.rows) >= len(ref) and c.tf.hypotheses[0]["token_ids"][:len(ref)] == ref


def test_language_model_from_bos_only():
    t = engine.generate("hmm-gpt", "", {"max_new_tokens": 6, "do_sample": True, "seed": 0})
    assert t.input["token_ids"] == [] and len(t.hypotheses[0]["token_ids"]) == 6
    assert t.steps[0]["hypotheses"][0]["self_attn_keys"] == ["<bos>"]


def test_beam_hypotheses_store_and_is_done_modes():
    h = BeamHypotheses(2, 1.0, False, max_new=10)
    assert h.add(-1.0, 1, {"node": 1}) and h.add(-4.0, 2, {"node": 2})      # scores -1, -2
    assert h.worst_score == -2.0
    assert not h.add(-3.0, 1, {"node": 3})                                   # -3 < worst: not stored
    assert h.add(-1.0, 2, {"node": 4})                                       # -0.5 evicts -2
    assert [p["node"] for _, p in h.beams] == [1, 4] and h.evicted == [{"node": 2}] and h.worst_score == -1.0
    assert h.is_done(-2.0, 2) and not h.is_done(-0.5, 1)                     # worst -1 >= -2/2 ; not >= -0.5/1
    assert BeamHypotheses(2, 1.0, True, 10).is_done(0.0, 1) is False        # not full yet
    full_true = BeamHypotheses(1, 1.0, True, 10)
    full_true.add(-5.0, 1, {})
    assert full_true.is_done(0.0, 1)                                         # True: stop as soon as full
    never = BeamHypotheses(1, 1.0, "never", 10)
    never.add(-1.0, 1, {})
    assert not never.is_done(-5.0, 2) and never.is_done(-10.0, 2)            # -5/10 > -1 ; -10/10 <= -1


def test_no_repeat_ngram_and_repetition_penalties_act_on_text_gpt(text_gpt):
    prompt = "The default value of"
    base = engine.generate(text_gpt, prompt, {"max_new_tokens": 40}, record=False).hypotheses[0]["token_ids"]
    ids = text_gpt.tokenizer.encode(prompt).ids
    tri = lambda s: [tuple(s[i:i + 3]) for i in range(len(s) - 2)]  # noqa: E731
    assert len(set(tri(ids + base))) < len(tri(ids + base))          # plain greedy loops
    t = engine.generate(text_gpt, prompt, {"max_new_tokens": 40, "no_repeat_ngram_size": 3})
    out = ids + t.hypotheses[0]["token_ids"]
    assert len(set(tri(out))) == len(tri(out))
    for cfg in ({"repetition_penalty": 1.5}, {"additive_repetition_penalty": 2.0}):
        r = engine.generate(text_gpt, prompt, dict(cfg, max_new_tokens=40), record=False).hypotheses[0]["token_ids"]
        assert len(set(r)) > len(set(base))


def test_trace_lists_the_rules_that_acted_and_warns_about_unused_ones(text_gpt):
    t = engine.generate(text_gpt, "The", {"do_sample": True, "top_p": 0.9, "temperature": 0.7,
                                          "repetition_penalty": 1.2, "max_new_tokens": 2, "seed": 0}, record=False)
    assert t.rules == ["repetition_penalty", "temperature", "top_p"] and t.warnings == []
    b = engine.generate(text_gpt, "The", {"num_beams": 2, "top_p": 0.5, "max_new_tokens": 2}, record=False)
    assert b.rules == [] and any("top_p" in w and "sampling" in w for w in b.warnings)


def test_wrong_note_while_sampling_keeps_the_random_stream(text_gpt):
    cfg = {"max_new_tokens": 8, "do_sample": True, "seed": 3}
    free = engine.generate(text_gpt, "The default", cfg, record=False).hypotheses[0]["token_ids"]
    wrong = next(i for i in range(4, 2000) if i != free[3])
    forced = engine.generate(text_gpt, "The default", cfg, record=False, forced_tokens={3: wrong})
    ids = forced.hypotheses[0]["token_ids"]
    assert ids[:3] == free[:3] and ids[3] == wrong and forced.forced["tokens"] == {"3": wrong}


# -- the recorder asks the model for hook points ------------------------------------------------------

class ToyLM(SeqModel):
    """A minimal language model of no known architecture: next-token logits from a table of the last
    token; its one layer of two heads attends uniformly to every real key so far. It reports its hook
    points; the recorder must record it without knowing what it is."""
    is_encoder_decoder = False
    arch = "toy"
    has_cross_attention = False
    max_len = 16

    def __init__(self, vocab: int):
        super().__init__()
        self.table = torch.nn.Parameter(torch.randn(vocab, vocab, generator=torch.Generator().manual_seed(0)) * 3)

    def describe(self) -> dict:
        return {"is_encoder_decoder": False, "n_layers": 1, "n_heads": 2, "n_encoder_layers": 0,
                "has_self_attention": True, "has_cross_attention": False, "max_len": self.max_len}

    def start(self, src_ids=None, src_mask=None, output_attentions=False, batch_size=1, hooks=()):
        return {"keys": torch.zeros(batch_size, 0, dtype=torch.bool)}, {}

    def decode(self, input_ids, state, input_mask=None, output_attentions=False, hooks=()):
        want = self.wanted(hooks, output_attentions)
        b, t = input_ids.shape
        real = torch.ones(b, t, dtype=torch.bool) if input_mask is None else input_mask.bool()
        keys = torch.cat([state["keys"], real], 1)
        k = keys.shape[1]
        seen = torch.ones(t, k, dtype=torch.bool).tril(k - t)[None] & keys[:, None, :]
        weights = seen.float() / seen.float().sum(-1, keepdim=True).clamp(min=1)
        logits = self.table[input_ids]
        points = {"attn.self.0": weights[:, None].expand(b, 2, t, k), "key_mask": keys, "hidden.final": logits}
        return StepOutput(logits, logits, {"keys": keys}, {n: v for n, v in points.items() if n in want})


def test_the_recorder_asks_the_model_for_hook_points_not_its_arch():
    tok = Tokenizer.train_char(["abc"])
    toy = Bundle("toy", ToyLM(tok.vocab_size), tok, {"name": "toy", "arch": "toy", "task": "toy", "kind": "lm",
                                                     "model": {}})
    assert Recorder(toy, RecordOptions()).hooks == ("attn.self.0", "key_mask", "hidden.final")
    assert Recorder(toy, RecordOptions.off()).hooks == ()
    cfg = {"max_new_tokens": 3, "min_new_tokens": 3}
    for t in (engine.generate(toy, "ab", cfg), engine.generate_batch(toy, ["abcab", "ab"], cfg)[1],
              engine.generate(toy, "ab", dict(cfg, num_beams=2)), engine.teacher_forced(toy, "ab", "cab")):
        assert t.model["arch"] == "toy" and t.model["n_heads"] == 2 and t.model["n_layers"] == 1
        for step in t.steps:
            n_keys = 3 + step["step"]                  # <bos> a b + the tokens so far (no padding keys)
            for s in step["hypotheses"]:
                assert s["self_attn_keys"][:3] == ["<bos>", "a", "b"] and len(s["self_attn_keys"]) == n_keys
                assert len(s["self_attn"]) == 1 and len(s["self_attn"][0]) == 2
                assert s["self_attn"][0][1] == pytest.approx([1 / n_keys] * n_keys, abs=5e-4)
                assert len(s["hidden"]) == tok.vocab_size and s["cross_attn"] is None
    with pytest.raises(ValueError, match="layers"):
        engine.generate(toy, "ab", record=engine.RecordOptions(layers=[1]))


def test_early_stopping_false_uses_the_best_running_beam():
    """Defect B (issue 12): transformers 5.x's `_check_early_stop_heuristic` stops when the best
    still-running beam cannot beat the worst finished hypothesis; HF <= 4.49 (and seqscope before)
    compared the best of all candidates, which can be a hypothesis that has just finished.

    A bigram model over {a, b}, 2 beams, length_penalty 1: step 0 keeps a, b and finishes [<eos>]
    (-1.20); step 1 finishes [a, <eos>] (-0.56 / 2) and keeps [b, a] (-2.81) as the best running beam.
    -2.81 / 2 cannot beat -1.20: the search stops with those two. The old test (-0.56 / 2 > -1.20) went
    on and let [b, a, <eos>] ((-2.81 - 0.05) / 3 = -0.95) evict [<eos>]."""
    tok = Tokenizer.train_char(["ab"])
    a, b = tok.encode("a").ids[0], tok.encode("b").ids[0]
    model = ToyLM(tok.vocab_size)
    table = torch.full((tok.vocab_size, tok.vocab_size), -1e4)
    for prev, nxt in ((tok.bos_id, {a: 0.6, EOS: 0.3, b: 0.1}), (a, {EOS: 0.95, b: 0.05}), (b, {EOS: 0.4, a: 0.6})):
        for i, p in nxt.items():
            table[prev, i] = math.log(p)
    with torch.no_grad():
        model.table.copy_(table)
    toy = Bundle("toy", model, tok, {"name": "toy", "arch": "toy", "task": "toy", "kind": "lm", "model": {}})
    t = engine.generate(toy, "", {"num_beams": 2, "num_return_sequences": 2, "length_penalty": 1.0,
                                  "early_stopping": False, "max_new_tokens": 6}, record=False)
    assert [h["token_ids"] for h in t.hypotheses] == [[a, EOS], [EOS]] and len(t.steps) == 2
    assert [h["search_score"] for h in t.hypotheses] == pytest.approx([math.log(0.6 * 0.95) / 2, math.log(0.3)],
                                                                        abs=1e-5)
