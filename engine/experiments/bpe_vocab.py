"""Experiment 8: BPE vocabulary size vs per-step error and whole-sequence error."""
from __future__ import annotations

from .. import exposure as ex
from .registry import experiment
from .small_models import SMALL_TASK, small_budget, train_and_score


@experiment("bpe-vocab", "BPE vocabulary size vs per-step error and whole-sequence error",
            "A larger sub-word vocabulary makes each sequence shorter, so there are fewer steps at which an error "
            "can start to compound, but each step chooses among more tokens and is harder. Here small GRUs learn "
            "addition of 1- to 4-digit numbers for 1000 steps with characters and BPE vocabularies of growing "
            "size, compared on per-token error, steps per answer and whole-answer error.")
def bpe_vocab(quick: bool, seed: int):
    steps, n = small_budget(quick)
    out = {}
    for vocab in ("char", 24, 48, 96):
        opts = {"tokenizer": "char"} if vocab == "char" else {"tokenizer": "bpe", "bpe_vocab_size": vocab}
        b, sc = train_and_score(f"bpe-{vocab}", quick, steps, n, seed, **opts)
        inp = ex.make_inputs(b, n, seed=seed)
        sc["vocab_size"] = b.tokenizer.vocab_size
        sc["steps_per_answer"] = round(float((inp.tout != 0).sum(1).double().mean()), 3)
        sc["sequence_error"] = round(1 - sc["fr_exact_match"], 4)
        out[str(vocab)] = sc
    keys = list(out)
    shorter = out[keys[-1]]["steps_per_answer"] < out[keys[0]]["steps_per_answer"]
    harder = out[keys[-1]]["tf_token_error"] >= out[keys[0]]["tf_token_error"]
    agrees = shorter and harder
    verdict = ("; ".join(f"{k}: {v['vocab_size']} tokens, {v['steps_per_answer']} steps, token error "
                         f"{v['tf_token_error']:.3f}, sequence error {v['sequence_error']:.3f}" for k, v in out.items())
               + (": agrees (bigger vocabulary: fewer but harder steps)." if agrees else ": does not agree."))
    return {"task": SMALL_TASK, "steps": steps, "examples": n, "models": out}, agrees, verdict
