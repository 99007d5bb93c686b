"""Parity with transformers' `generate` (the pinned 5.24.0) on tiny random Hugging Face models, and the
special-token roles on them: the same tokens and sequence scores (beam search: `sequences_scores`
within 1e-4) and, step by step, the same processed distribution (`generate`'s `scores`).

The models are GPT-2-style, Llama-style and Marian (encoder-decoder), built by tests/hf_tiny.py with
pad_vocab=0 (generate may choose padded ids; seqscope never does). Two changes are made to them in
memory, the same for both sides since both call the same module (`SHAPE`): the weight matrices and
the logits are scaled up (more peaked distributions than random initialisation gives), and a forward
hook on the output layer sets the <eos> logit to the second-best logit plus a fixed random projection
of the normalised hidden state (about N(0, 1)), so that hypotheses end at different lengths and
length_penalty and early_stopping decide things (the beam test checks that they do). The models'
generation configs name forced_eos_token_id (Marian, BART: generate forces <eos> at the last step);
seqscope has no such rule, so for parity it is set to None there, with forced_bos_token_id and
bad_words_ids (seqscope does not apply them).

Defect B (issue 12): early_stopping=False follows 5.24's `_check_early_stop_heuristic` (the best
still-running beam); with the old test (the best of all candidates) the early_stopping=False beam
cases below fail for all three models."""
from __future__ import annotations

import copy
import itertools
import sys
import warnings
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")

import engine  # noqa: E402
from engine.decoding.inputs import prepare, rule_context  # noqa: E402
from engine.decoding.rules import apply_rules  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import hf_tiny  # noqa: E402

ARCHS = ["gpt2", "llama", "marian"]
TEXTS = ["the cat sat", "one two three"]
MAX_NEW = 12
SHAPE = {"gpt2": (5.0, 3.0), "llama": (3.0, 3.0), "marian": (4.0, 2.0)}   # weights x, logits x (module docstring)
TOL = 1e-4


@pytest.fixture(scope="module", autouse=True)
def one_thread(one_torch_thread):
    """One torch thread (see conftest.one_torch_thread)."""


def _quiet():
    import transformers
    transformers.utils.logging.set_verbosity_error()
    warnings.filterwarnings("ignore", module="transformers")


def eos_hook(eos: int, width: int, sharpen: float):
    """The output layer's forward hook (module docstring): logits x sharpen, <eos> = second best + h.r/|h|."""
    r = torch.randn(width, generator=torch.Generator().manual_seed(0))

    def hook(module, inputs, logits):
        h = inputs[0]
        logits = logits * sharpen
        others = logits.index_fill(-1, torch.tensor([eos]), float("-inf"))
        logits[..., eos] = others.topk(2, -1).values[..., 1] + (h @ r) / h.norm(dim=-1)
        return logits
    return hook


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """arch -> Bundle of the tiny model, peaked and with an <eos> that comes at varied lengths."""
    _quiet()
    root = tmp_path_factory.mktemp("hf-parity")
    out = {}
    for arch in ARCHS:
        b = engine.load("hf:" + str(hf_tiny.MAKERS[arch](root)))
        hf = b.model.hf
        weights, sharpen = SHAPE[arch]
        with torch.no_grad():
            for p in hf.parameters():
                if p.dim() >= 2:
                    p.mul_(weights)
        head = hf.get_output_embeddings()
        head.register_forward_hook(eos_hook(b.tokenizer.eos_id, head.weight.shape[1], sharpen))
        gc = hf.generation_config
        gc.forced_eos_token_id = gc.forced_bos_token_id = gc.bad_words_ids = None
        out[arch] = b
    return out


def hf_generate(b, text: str, cfg: dict):
    """transformers' generate on the same input with the same settings: (output, generated part's start)."""
    hf = b.model.hf
    gc = copy.deepcopy(hf.generation_config)
    if gc.pad_token_id is None:
        gc.pad_token_id = b.tokenizer.eos_id
    kw = {k: v for k, v in cfg.items() if k != "seed"}
    if kw.get("do_sample"):
        kw.setdefault("top_k", 0)                        # seqscope's top_k is off by default, HF's is 50
        if "seed" in cfg:
            torch.manual_seed(cfg["seed"])               # the same stream as seqscope's generator of that seed
    ids = torch.tensor([b.tokenizer.encode(text).ids])
    with torch.no_grad():
        out = hf.generate(input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=gc,
                          output_scores=True, return_dict_in_generate=True, **kw)
    return out, (1 if b.model.is_encoder_decoder else ids.shape[1])


def generated(seq, start: int, eos: int, fill: int, n: int) -> list[int]:
    """A generate output row's new tokens: the first n, checking that only fill follows."""
    rest = seq[start:].tolist()
    assert all(x == fill for x in rest[n:]), rest
    return rest[:n]


def fill_id(b) -> int:
    return b.tokenizer.pad_id if b.tokenizer.pad_id is not None else b.tokenizer.eos_id


def same_distributions(trace, scores, atol=TOL) -> None:
    """Every recorded step's processed distribution (top_after over the whole vocabulary) equals
    softmax(generate's scores) at that step."""
    assert len(trace.steps) == len(scores)
    for step, sc in zip(trace.steps, scores):
        p = torch.softmax(sc[0].double(), -1)
        rec = step["hypotheses"][0]
        top = rec["top_after"]
        assert len(top) == p.shape[0]                     # every id is listed
        got = torch.zeros_like(p)
        got[[e["id"] for e in top]] = torch.tensor([e["prob"] for e in top], dtype=p.dtype)
        assert torch.allclose(got, p, atol=atol, rtol=0), (step["step"], float((got - p).abs().max()))
        lp = torch.log_softmax(sc[0].double(), -1)[rec["token_id"]]
        assert rec["logprob"] == pytest.approx(float(lp), abs=atol)


FULL = {"top_k": 1000, "attention": False, "hidden_states": False}   # the whole distribution, no attention

GREEDY = [{}, {"repetition_penalty": 1.3}, {"no_repeat_ngram_size": 2}, {"min_new_tokens": 6},
          {"repetition_penalty": 2.0, "no_repeat_ngram_size": 1, "min_new_tokens": 3}]


@pytest.mark.parametrize("arch", ARCHS)
def test_greedy_and_rules_match_generate(models, arch):
    b = models[arch]
    for text, rules in itertools.product(TEXTS, GREEDY):
        cfg = {"max_new_tokens": MAX_NEW, **rules}
        out, start = hf_generate(b, text, dict(cfg, do_sample=False, num_beams=1))
        t = engine.generate(b, text, cfg, record=FULL)
        ids = t.hypotheses[0]["token_ids"]
        assert generated(out.sequences[0], start, b.tokenizer.eos_id, fill_id(b), len(ids)) == ids, (text, rules)
        same_distributions(t, out.scores)


BEAMS = [2, 3, 5, 8]
PENALTIES = [0.0, 0.6, 1.0, 2.0]


@pytest.mark.parametrize("early_stopping", [True, False, "never"])
@pytest.mark.parametrize("arch", ARCHS)
def test_beam_search_matches_generate(models, arch, early_stopping):
    """Tokens of every returned hypothesis and sequences_scores within 1e-4, 2-8 beams x length
    penalties x num_return_sequences."""
    b = models[arch]
    worst, lengths = 0.0, []
    for i, (text, nb, lp) in enumerate(itertools.product(TEXTS, BEAMS, PENALTIES)):
        n_return = (1, 2, nb)[i % 3]
        cfg = {"max_new_tokens": MAX_NEW, "num_beams": nb, "length_penalty": lp, "early_stopping": early_stopping,
               "num_return_sequences": n_return}
        out, start = hf_generate(b, text, dict(cfg, do_sample=False))
        t = engine.generate(b, text, cfg, record=False)
        assert len(t.hypotheses) == n_return == out.sequences.shape[0]
        for h, seq, score in zip(t.hypotheses, out.sequences, out.sequences_scores.tolist()):
            assert generated(seq, start, b.tokenizer.eos_id, fill_id(b), len(h["token_ids"])) == h["token_ids"], cfg
            assert abs(h["search_score"] - score) <= TOL, (cfg, h["search_score"], score)
            worst = max(worst, abs(h["search_score"] - score))
            if h["finished"]:
                lengths.append(len(h["token_ids"]))
    assert len(set(lengths) - {1}) >= 2, "retune SHAPE: the cases should end at several lengths"
    print(f"{arch} early_stopping={early_stopping}: sequences_scores max difference {worst:.2e}")


@pytest.mark.parametrize("arch", ARCHS)
def test_beam_search_with_rules_matches_generate(models, arch):
    b = models[arch]
    for text, rules in itertools.product(TEXTS, GREEDY[1:]):
        cfg = {"max_new_tokens": MAX_NEW, "num_beams": 4, "num_return_sequences": 2, **rules}
        out, start = hf_generate(b, text, dict(cfg, do_sample=False))
        t = engine.generate(b, text, cfg, record=False)
        for h, seq, score in zip(t.hypotheses, out.sequences, out.sequences_scores.tolist()):
            assert generated(seq, start, b.tokenizer.eos_id, fill_id(b), len(h["token_ids"])) == h["token_ids"], cfg
            assert abs(h["search_score"] - score) <= TOL, cfg


SAMPLING = [{"temperature": 0.7, "top_k": 10}, {"top_p": 0.8, "temperature": 1.3}, {"min_p": 0.1},
            {"typical_p": 0.9}, {"epsilon_cutoff": 0.02}, {"eta_cutoff": 0.01},
            {"repetition_penalty": 1.5, "no_repeat_ngram_size": 2, "min_new_tokens": 3, "top_k": 20}]


@pytest.mark.parametrize("arch", ARCHS)
def test_sampling_has_the_processed_distribution_of_generate(models, arch):
    """The same seed draws the same tokens (seqscope's per-input generator and generate's global
    generator give the same stream), so the prefixes are the same and every step's processed
    distribution is compared with generate's scores."""
    b = models[arch]
    for i, warp in enumerate(SAMPLING):
        cfg = {"max_new_tokens": MAX_NEW, "do_sample": True, "seed": 11 + i, **warp}
        text = TEXTS[i % 2]
        out, start = hf_generate(b, text, cfg)
        t = engine.generate(b, text, cfg, record=FULL)
        ids = t.hypotheses[0]["token_ids"]
        assert generated(out.sequences[0], start, b.tokenizer.eos_id, fill_id(b), len(ids)) == ids, warp
        same_distributions(t, out.scores)


# -- defect A: the repetition rules see what HF's input_ids hold ---------------------------------------

def test_repetition_rules_see_the_bos_like_hf_input_ids():
    """repetition_penalty=2.0, no_repeat_ngram_size=1, context [<bos>, 5, 6]: the <bos> logit gets HF's
    value (-inf), because the rules' context is <bos> + prompt + generated, as HF's input_ids."""
    from transformers import NoRepeatNGramLogitsProcessor, RepetitionPenaltyLogitsProcessor
    b = engine.load("text-gpt")
    tok = b.tokenizer
    prep = prepare(b, [5, 6], 4)
    context = rule_context(b, prep, [])
    assert context == [tok.bos_id, 5, 6] and prep.prefix == [tok.bos_id, 5, 6]
    scores = torch.randn(1, tok.vocab_size, generator=torch.Generator().manual_seed(0))
    cfg = engine.GenerationConfig(repetition_penalty=2.0, no_repeat_ngram_size=1)
    ours = apply_rules(scores, cfg, [context], [0], tok.eos_id, warp=False)
    ids = torch.tensor([context])
    theirs = NoRepeatNGramLogitsProcessor(1)(ids, RepetitionPenaltyLogitsProcessor(2.0)(ids, scores.clone()))
    assert torch.equal(ours, theirs) and torch.isneginf(ours[0, tok.bos_id])
    seq2seq = engine.load("dates-transformer")
    p = prepare(seq2seq, "3 mar 21", 4)
    assert rule_context(seq2seq, p, [7, 8]) == [seq2seq.tokenizer.decoder_start_id, 7, 8]


# -- the special-token roles on HF models ----------------------------------------------------------------

def test_padded_vocabulary_ids_are_never_chosen_nor_shown(tmp_path):
    """Logits wider than the tokenizer, the padded ids made the most likely: greedy, sampling and beam
    search never choose them (no IndexError) and no recorded list shows them."""
    _quiet()
    b = engine.load("hf:" + str(hf_tiny.make_gpt2(tmp_path, pad_vocab=7)))
    V = b.tokenizer.vocab_size
    head = b.model.hf.get_output_embeddings()
    assert head.weight.shape[0] == V + 7
    bias = torch.zeros(V + 7)
    bias[V:] = 50.0
    head.register_forward_hook(lambda m, i, o: o + bias)
    for cfg in ({}, {"do_sample": True, "seed": 0}, {"num_beams": 3, "num_return_sequences": 3}):
        t = engine.generate(b, "the cat", dict(cfg, max_new_tokens=5), record={"top_k": 30})
        for h in t.hypotheses:
            assert h["token_ids"] and all(i < V for i in h["token_ids"])
        for step in t.steps:
            for s in step["hypotheses"]:
                assert all(e["id"] < V for e in s["top_before"] + s["top_after"])
                assert s["logprob"] is None or s["logprob"] > -30
    c = engine.compare_tf_fr(b, "the cat", "sat on the mat")
    assert all(r["tf_logprob"] is not None for r in c.rows)


def test_token_id_input_and_no_end_token(models):
    """engine.generate(model, [ids]) takes token ids as generate's input_ids; a tokenizer without an end
    token runs every hypothesis to max_new_tokens."""
    b = models["llama"]
    ids = b.tokenizer.encode("the cat sat").ids
    assert ids[0] == b.tokenizer.bos_id                         # the tokenizer adds <s>; nothing more is added
    by_text = engine.generate(b, "the cat sat", {"max_new_tokens": 6}, record=False)
    by_ids = engine.generate(b, ids, {"max_new_tokens": 6}, record=False)
    assert by_ids.input["token_ids"] == ids and by_ids.hypotheses == by_text.hypotheses
    tok = copy.copy(b.tokenizer)
    tok.eos_id, tok.eos_ids = None, ()
    no_end = engine.Bundle(b.name, b.model, tok, b.config)
    for cfg in ({}, {"num_beams": 3}):
        t = engine.generate(no_end, "the cat sat", dict(cfg, max_new_tokens=8), record=False)
        assert len(t.hypotheses[0]["token_ids"]) == 8 and not t.hypotheses[0]["finished"]
    with pytest.raises(ValueError, match="outside the vocabulary"):
        engine.generate(b, [b.tokenizer.vocab_size], {"max_new_tokens": 2})
    prefix = b.tokenizer.encode("on the mat", add_special_tokens=False).ids       # a continuation: no <s>
    t = engine.generate(b, "the cat sat", {"max_new_tokens": len(prefix) + 1}, forced_prefix="on the mat")
    assert t.hypotheses[0]["token_ids"][:len(prefix)] == prefix and b.tokenizer.bos_id not in prefix
    seq2seq = models["marian"]
    t = engine.generate(seq2seq, "the cat sat", {"max_new_tokens": 4}, record={"top_k": 3})
    start = seq2seq.tokenizer.decoder_start_id
    assert t.steps[0]["hypotheses"][0]["self_attn_keys"] == [seq2seq.tokenizer.token_str(start)]
