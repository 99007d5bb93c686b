"""Experiment 8: vocabulary size vs whole-answer error and bits per character, without the confounds.

Small attentive GRUs learn 1- to 4-digit sums with characters and with BPE vocabularies of growing
size (engine/experiments/plain_bpe.py: BPE learnt from sources and targets as separate texts, so no
merge crosses from a source into its answer, and no pre-tokenizer, so an answer carries no extra
word-marker token). Per seed and vocabulary, on the same held-out sums: tokens per answer, the
teacher-forced token error, bits per character (the teacher-forced NLL of the answer and its <eos>, in
bits, over its characters + 1: comparable across tokenizations) and the whole-answer error of greedy
decoding.

Declared test: per seed, the least-squares slope of the whole-answer error against log2(vocabulary
size) over all sizes; Student t 95% interval over seeds; the estimate is −slope, so > 0 means larger
vocabularies (shorter answers) make fewer whole-answer errors, as the compounding argument predicts.
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch

from .. import stats
from ..batching import seq2seq_tensors
from ..exposure.stats import rounded
from ..rollout import rollout
from ..tasks import get_task
from ..tokenizer import PAD, Tokenizer
from .plain_bpe import fit_with, plain_bpe
from .registry import experiment
from .verdict import make_verdict

TASK = "addition4"
VOCABS = ("char", 32, 64, 128)
MODEL = {"d_emb": 32, "d_hidden": 64, "d_attn": 32, "dropout": 0.0, "max_len": 24}
TRAIN_EXAMPLES = 20_000
FLOOR = 0.9                     # whole-answer error of every vocabulary at or above this: the page says so


def budget(quick: bool) -> tuple[int, int]:
    """(training steps, test sums)."""
    return (300, 300) if quick else (400, 1000)


def tokenizer_for(vocab, seed: int) -> Tokenizer:
    """Characters, or plain BPE of this size, learnt from the training split of this seed."""
    train = get_task(TASK).splits(seed=seed, sizes={"train": TRAIN_EXAMPLES, "valid": 10, "test": 10})["train"]
    if vocab == "char":
        return Tokenizer.train_char([e.src + e.tgt for e in train])
    return plain_bpe([e.src for e in train] + [e.tgt for e in train], int(vocab))


@torch.no_grad()
def measure(bundle, pairs: list[tuple[str, str]]) -> dict:
    """Tokens per answer, TF token error, bits per character and greedy whole-answer error."""
    tok, model = bundle.tokenizer, bundle.model
    src, smask, tin, tout = seq2seq_tensors(tok, pairs)
    state, _ = model.start(src, smask)
    lp = model.decode(tin, state).logits.log_softmax(-1)
    valid = tout != PAD
    nll = -lp.gather(-1, tout.clamp(min=0)[..., None]).squeeze(-1)[valid].sum()
    chars = sum(len(t) + 1 for _, t in pairs)                    # + 1: the <eos> every answer ends with
    err = (lp.argmax(-1) != tout)[valid].double().mean()
    fr = rollout(model, tok, src=src, src_mask=smask, max_new=get_task(TASK).max_new_tokens)
    wrong = [tok.decode(row) != t for row, (_, t) in zip(fr.tokens.tolist(), pairs)]
    return {"vocab_size": tok.vocab_size, "tokens_per_answer": rounded(float((valid.sum(1) - 1).double().mean()), 4),
            "tf_token_error": rounded(float(err)), "bits_per_char": rounded(float(nll) / math.log(2) / chars),
            "sequence_error": rounded(sum(wrong) / len(wrong))}


def slope(x: list[float], y: list[float]) -> float:
    """Least-squares slope of y against x."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return float(((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum())


KEYS = ("tokens_per_answer", "tf_token_error", "bits_per_char", "sequence_error")


@experiment("bpe-vocab", "Vocabulary size vs whole-answer error and bits per character",
            "A larger sub-word vocabulary makes each answer shorter, so there are fewer steps at which an error can "
            "start to compound (the argument behind exposure bias: Bengio et al., 2015; Ranzato et al., 2016), "
            "which predicts fewer whole-answer errors as long as each step does not get much harder. Here small GRUs "
            "learn 1- to 4-digit sums with characters and BPE vocabularies of growing size (BPE learnt from sources "
            "and answers separately, no extra marker token), compared on whole-answer error and on bits per "
            "character, over several seeds.")
def bpe_vocab(quick: bool, seeds: tuple[int, ...], progress) -> tuple[dict, object]:
    steps, n = budget(quick)
    task = get_task(TASK)
    runs = {str(v): [] for v in VOCABS}
    for seed in seeds:
        pairs = [(e.src, e.tgt) for e in task.splits(seed=seed, sizes={"train": 0, "valid": 0, "test": n})["test"]]
        for v in VOCABS:
            progress(f"seed {seed}: training {v} ({steps} steps)")
            t = time.time()
            tok = tokenizer_for(v, seed)
            b = fit_with({"name": f"bpe-{v}", "task": TASK, "arch": "gru-attn", "model": MODEL, "steps": steps,
                          "tokenizer": "char" if v == "char" else "bpe",
                          "data_sizes": {"train": TRAIN_EXAMPLES, "valid": 10, "test": 10}}, tok, seed)
            runs[str(v)].append({"seed": seed, **measure(b, pairs), "seconds": round(time.time() - t, 1)})
    sizes = [r[0]["vocab_size"] for r in runs.values()]
    x = [math.log2(s) for s in sizes]
    slopes = {k: [slope(x, [runs[str(v)][i][k] for v in VOCABS]) for i in range(len(seeds))] for k in KEYS}
    trend = {k: [rounded(u) for u in stats.t_interval(s)] for k, s in slopes.items()}
    summary = {str(v): {k: [rounded(u) for u in stats.t_interval([r[k] for r in runs[str(v)]])] for k in KEYS}
               for v in VOCABS}
    est, lo, hi = stats.t_interval([-s for s in slopes["sequence_error"]])
    data = {"task": TASK, "steps": steps, "test_examples": n, "train_examples": TRAIN_EXAMPLES, "model": MODEL,
            "seeds": list(seeds), "vocabularies": [str(v) for v in VOCABS], "vocab_sizes": sizes, "runs": runs,
            "summary": summary, "slopes_per_log2_vocab": {k: [rounded(u) for u in s] for k, s in slopes.items()},
            "trend": trend}
    m = {str(v): summary[str(v)] for v in VOCABS}
    b = trend["bits_per_char"]
    seq = [m[str(v)]["sequence_error"][0] for v in VOCABS]
    text = ("; ".join(f"{v} ({sizes[i]} tokens): {m[str(v)]['tokens_per_answer'][0]:.2f} tokens per answer, "
                      f"sequence error {m[str(v)]['sequence_error'][0]:.3f}, {m[str(v)]['bits_per_char'][0]:.3f} bits/char"
                      for i, v in enumerate(VOCABS))
            + f" (means of {len(seeds)} seeds). Per doubling of the vocabulary the sequence error changes by "
            f"{-est:+.3f} [{-hi:+.3f}, {-lo:+.3f}] and bits per character by {b[0]:+.3f} [{b[1]:+.3f}, {b[2]:+.3f}]: "
            + ("shorter answers make fewer whole-answer errors." if lo > 0 else
               "shorter answers make more whole-answer errors, not fewer." if hi < 0 else
               "the interval includes no trend in whole-answer error.")
            + (" Each character also gets harder to predict (bits per character rise)." if b[1] is not None and b[1] > 0
               else " Bits per character fall too." if b[2] is not None and b[2] < 0 else "")
            + (f" Every vocabulary is near the floor (whole-answer error ≥ {FLOOR} for all): at this budget the models "
               "get almost no answer right, so the trend in whole-answer error says little about compounding; bits "
               "per character are the informative measure here." if min(seq) >= FLOOR else ""))
    verdict = make_verdict(
        prediction="larger vocabularies (fewer steps per answer) make fewer whole-answer errors",
        test=(f"−slope of whole-answer error against log2(vocabulary size) over {len(VOCABS)} sizes (least squares "
              f"per seed, {n} test sums); Student t 95% interval over {len(seeds)} seeds"),
        estimate=est, lo=lo, hi=hi, text=text, n=len(seeds) * n)
    return data, verdict
