"""Held-out metrics: greedy decoding and NLL in batches, and the metrics written into each model card
(exact match for seq2seq tasks, perplexity for text, NLL against the oracle for the HMM)."""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Sequence

import torch
import torch.nn.functional as F

from ..batching import batches, pad_batch, seq2seq_tensors
from ..decoding.rules import top_k
from ..models import SeqModel
from ..rollout import rollout
from ..tokenizer import BOS, EOS, PAD, Tokenizer


@torch.no_grad()
def greedy_batch(model: SeqModel, tokenizer: Tokenizer, inputs: Sequence[str], max_new_tokens: int = 32,
                 batch_size: int = 256) -> list[str]:
    """Greedy decode many inputs (seq2seq sources or LM prompts) in batches; returns the texts."""
    model.eval()
    out: list[str] = []
    for chunk in batches(list(inputs), batch_size):
        enc = [tokenizer.encode(s).ids for s in chunk]
        if model.is_encoder_decoder:
            src, smask = pad_batch(enc)
            run = rollout(model, tokenizer, src=src, src_mask=smask, max_new=min(max_new_tokens, model.max_len - 1))
        else:
            prompt, pmask = pad_batch([[BOS] + e for e in enc], side="left")
            run = rollout(model, tokenizer, prompt=prompt, prompt_mask=pmask,
                          max_new=max(0, min(max_new_tokens, model.max_len - prompt.shape[1])))
        out.extend(tokenizer.decode(row) for row in run.tokens.tolist())
    return out


@torch.no_grad()
def seq2seq_nll(model: SeqModel, tokenizer: Tokenizer, pairs: Sequence[tuple[str, str]],
                batch_size: int = 256) -> float:
    """Mean per-token NLL (nats) of the targets under teacher forcing."""
    model.eval()
    total, count = 0.0, 0
    for chunk in batches(list(pairs), batch_size):
        src, smask, tin, tout = seq2seq_tensors(tokenizer, chunk)
        state, _ = model.start(src, smask)
        logits = model.decode(tin, state).logits
        total += F.cross_entropy(logits.transpose(1, 2), tout, ignore_index=PAD, reduction="sum").item()
        count += int((tout != PAD).sum())
    return total / max(count, 1)


@torch.no_grad()
def lm_sequence_nll(model: SeqModel, seqs: Sequence[Sequence[int]], batch_size: int = 64) -> tuple[float, int]:
    """Total NLL (nats) and token count of id sequences (each starting with BOS) under the LM."""
    model.eval()
    total, count = 0.0, 0
    for chunk in batches(list(seqs), batch_size):
        ids, mask = pad_batch(chunk)
        state, _ = model.start(batch_size=len(chunk))
        logits = model.decode(ids[:, :-1], state).logits
        target = ids[:, 1:].masked_fill(~mask[:, 1:], PAD)
        total += F.cross_entropy(logits.transpose(1, 2), target, ignore_index=PAD, reduction="sum").item()
        count += int(mask[:, 1:].sum())
    return total, count


def exact_match(model, tok, pairs) -> tuple[float, list[str]]:
    preds = greedy_batch(model, tok, [s for s, _ in pairs], max_new_tokens=model.max_len - 1)
    return sum(p == t for p, (_, t) in zip(preds, pairs)) / max(len(pairs), 1), preds


def bucketed(pairs, preds, key) -> dict:
    hits, counts = defaultdict(int), defaultdict(int)
    for (s, t), p in zip(pairs, preds):
        k = key(s)
        counts[k] += 1
        hits[k] += p == t
    return {k: round(hits[k] / counts[k], 4) for k in sorted(counts)} | {
        f"n[{k}]": counts[k] for k in sorted(counts)}


def length_bucket(s: str) -> str:
    n = len(s)
    for lo, hi in ((0, 10), (11, 15), (16, 20), (21, 25), (26, 30), (31, 40)):
        if lo <= n <= hi:
            return f"{lo:02d}-{hi:02d} chars"
    return "41+ chars"


def digits_bucket(s: str) -> str:
    return f"{max(len(x) for x in s.split('+'))} digits"


@torch.no_grad()
def evaluate(model: SeqModel, data) -> tuple[dict, list[str]]:
    model.eval()
    tok, task = data.tok, data.task
    if data.seq2seq:
        test = data.pairs["test"]
        acc, preds = exact_match(model, tok, test)
        m = {"test_exact_match": round(acc, 4), "test_nll": round(seq2seq_nll(model, tok, test), 4),
             "test_examples": len(test)}
        if task.name == "dates":
            from ..tasks.dates import handwritten
            hw = [(e.src, e.tgt) for e in handwritten()]
            hacc, hpreds = exact_match(model, tok, hw)
            m["handwritten_exact_match"] = round(hacc, 4)
            m["handwritten_examples"] = len(hw)
            m["handwritten_errors"] = "; ".join(f"{s} -> {p}" for (s, t), p in zip(hw, hpreds) if p != t)[:600]
            m["test_exact_match_by_source_length"] = bucketed(test, preds, length_bucket)
        if task.name.startswith("addition"):
            m["test_exact_match_by_operand_digits"] = bucketed(test, preds, digits_bucket)
        samples = [f"{s} -> {p} {'(ok)' if p == t else f'(wrong; gold {t})'}" for (s, t), p in zip(test[:10], preds[:10])]
        return m, samples
    if task.name == "hmm":
        return hmm_metrics(model, data)
    total, count = lm_sequence_nll(model, [s[: model.max_len] for s in data.seqs["test"]])
    vtotal, vcount = lm_sequence_nll(model, [s[: model.max_len] for s in data.seqs["valid"]])
    m = {"test_ppl": round(math.exp(total / count), 3), "valid_ppl": round(math.exp(vtotal / vcount), 3),
         "test_nll_per_token": round(total / count, 4), "test_tokens": count}
    return m, sample_texts(model, tok, task.examples()[:4])


@torch.no_grad()
def sample_texts(model, tok, prompts, n_tokens: int = 60, temperature: float = 0.8, seed: int = 0) -> list[str]:
    """A few seeded samples (top-k 40 at the given temperature) to show the model's style in its card;
    each prompt draws from its own generator seeded with `seed`."""
    prompt, pmask = pad_batch([[BOS] + tok.encode(p).ids for p in prompts], side="left")
    run = rollout(model, tok, prompt=prompt, prompt_mask=pmask, max_new=min(n_tokens, model.max_len - prompt.shape[1]),
                  sample=True, temperature=temperature, processor=lambda scores, ctx: top_k(scores, 40),
                  generators=[torch.Generator().manual_seed(seed) for _ in prompts])
    return [f"{p}|{tok.decode(row)}  (sampled, T={temperature}, top-k 40)" for p, row in zip(prompts, run.tokens.tolist())]


@torch.no_grad()
def hmm_metrics(model, data) -> tuple[dict, list[str]]:
    """Per-symbol NLL of the LM on fresh oracle samples against the oracle's own NLL on the same."""
    from ..tasks.hmm import HMMOracle
    oracle = HMMOracle()
    texts = [e.tgt for e in data.splits["test"]]
    seqs = data.seqs["test"]
    ids, mask = pad_batch(seqs)
    total_sym, n_sym, total_eos = 0.0, 0, 0.0
    for i in range(0, len(seqs), 200):
        x = ids[i:i + 200]
        state, _ = model.start(batch_size=x.shape[0])
        logp = model.decode(x[:, :-1], state).logits.log_softmax(-1)
        tgt = x[:, 1:]
        tok_lp = logp.gather(-1, tgt[..., None]).squeeze(-1)
        is_eos = tgt == EOS
        total_sym -= tok_lp.masked_fill(is_eos | (tgt == PAD), 0).sum().item()
        total_eos -= tok_lp.masked_fill(~is_eos, 0).sum().item()
        n_sym += int(((~is_eos) & (tgt != PAD)).sum())
    oracle_nll = sum(-oracle.log_prob(t) for t in texts) / sum(len(t) for t in texts)
    model_nll = total_sym / n_sym
    m = {"test_nll_per_symbol": round(model_nll, 4), "oracle_nll_per_symbol": round(oracle_nll, 4),
         "oracle_entropy_rate": round(oracle.entropy_rate(), 4),
         "nll_ratio_model_over_oracle": round(model_nll / oracle_nll, 4),
         "eos_nll_per_sequence": round(total_eos / len(seqs), 4), "test_sequences": len(seqs)}
    return m, sample_texts(model, data.tok, data.task.examples()[:4], n_tokens=50, temperature=1.0)
