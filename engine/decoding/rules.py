"""Decoding rules: small pure functions on a [N, V] score tensor (and, for some, the N prefixes).

Each function returns a new tensor (the input is not modified); a removed token gets -inf, as in
Hugging Face's logits processors, whose semantics these follow line by line. Which field of
`GenerationConfig` drives which rule, at which stage and in which order is one row of the table in
engine/decoding/fields.py; `apply_rules` composes them in that order (Hugging Face's
`_get_logits_processor` order): the "processor" rules act in every strategy, the "warper" rules only
when sampling (do_sample, or MBR's samples). Diverse beam search applies `hamming_diversity` before
all of them (as HF does).

A rule is `fn(scores, value, ...)`: `value` is its field's setting; a rule that needs more asks for
it by parameter name: `seen` ([N, V] bool, token v occurs in row n's context), `context_ids` (per
row, the ids the repetition rules look at), `n_generated` (tokens generated so far per row),
`eos_id`. Adding a rule = one function here + one row in fields.py (docs/decoding.md).

Numerical safety: the table's ranges keep every rule's arithmetic inside float32 (a temperature of
5e-324 or a penalty of 1e39 is refused before any work). Should a row still come out of the rules with
NaN or +inf, `apply_rules` removes the whole row (-inf), and the strategy puts the raw distribution
back with a warning in the trace (`sampling.revive_dead_rows`): never NaN in a trace, never a failed draw.
`length_normalized` is the safe form of Hugging Face's `score / length ** length_penalty`.
"""
from __future__ import annotations

import functools
import inspect
import math
from typing import Callable, Optional, Sequence

import torch
from torch import Tensor

NEG_INF = float("-inf")


def seen_mask(context_ids: Sequence[Sequence[int]], vocab_size: int, device=None) -> Tensor:
    """[N, V] bool: True where token v occurs in row n's context."""
    n = len(context_ids)
    width = max((len(c) for c in context_ids), default=0)
    if width == 0:
        return torch.zeros(n, vocab_size, dtype=torch.bool, device=device)
    idx = torch.full((n, width), vocab_size, dtype=torch.long, device=device)
    for i, c in enumerate(context_ids):
        if c:
            idx[i, :len(c)] = torch.as_tensor(list(c), dtype=torch.long)
    m = torch.zeros(n, vocab_size + 1, dtype=torch.bool, device=device)
    m.scatter_(1, idx, True)
    return m[:, :vocab_size]


def repetition_penalty(scores: Tensor, seen: Tensor, penalty: float) -> Tensor:
    """HF RepetitionPenaltyLogitsProcessor: a seen token's score s becomes s*penalty if s < 0, else s/penalty."""
    if penalty == 1.0:
        return scores
    penalised = torch.where(scores < 0, scores * penalty, scores / penalty)
    return torch.where(seen, penalised, scores)


def additive_repetition_penalty(scores: Tensor, seen: Tensor, lam: float) -> Tensor:
    """The sources' form on log-probabilities: log p(y) - lambda * 1[y in prefix] (then renormalised by softmax)."""
    if lam == 0.0:
        return scores
    return torch.log_softmax(scores, dim=-1) - lam * seen.to(scores.dtype)


def banned_ngram_tokens(context: Sequence[int], n: int) -> list[int]:
    """Tokens that would complete an n-gram already present in `context` (HF NoRepeatNGramLogitsProcessor)."""
    if n <= 0 or len(context) + 1 < n:
        return []
    context = list(context)
    if n == 1:
        return sorted(set(context))
    tail = tuple(context[len(context) - n + 1:])
    banned = set()
    for i in range(len(context) - n + 1):
        if tuple(context[i:i + n - 1]) == tail:
            banned.add(context[i + n - 1])
    return sorted(banned)


def no_repeat_ngram(scores: Tensor, context_ids: Sequence[Sequence[int]], n: int) -> Tensor:
    if n <= 0:
        return scores
    out = scores
    for row, context in enumerate(context_ids):
        banned = banned_ngram_tokens(context, n)
        if banned:
            if out is scores:
                out = scores.clone()
            out[row, banned] = NEG_INF
    return out


def min_new_tokens(scores: Tensor, n_generated: Sequence[int], minimum: int, eos_id: int) -> Tensor:
    """HF MinNewTokensLengthLogitsProcessor: <eos> is impossible while fewer than `minimum` tokens exist."""
    if minimum <= 0:
        return scores
    rows = [i for i, g in enumerate(n_generated) if g < minimum]
    if not rows:
        return scores
    if len(rows) == scores.shape[0]:              # every row (the usual case): one op, no clone
        ids = torch.as_tensor(eos_id, dtype=torch.long).reshape(-1).to(scores.device)
        return scores.index_fill(-1, ids, NEG_INF)
    out = scores.clone()
    out[rows, eos_id] = NEG_INF
    return out


def temperature(scores: Tensor, t: float) -> Tensor:
    return scores if t == 1.0 else scores / t


def top_k(scores: Tensor, k: Optional[int]) -> Tensor:
    """Keep the k best tokens; a token tied with the k-th best is kept too (HF TopKLogitsWarper)."""
    if not k:
        return scores
    k = min(k, scores.shape[-1])
    kth = torch.topk(scores, k, dim=-1).values[..., -1, None]
    return scores.masked_fill(scores < kth, NEG_INF)


def top_p(scores: Tensor, p: float, min_tokens_to_keep: int = 1) -> Tensor:
    """Nucleus: keep the smallest set of best tokens whose probability reaches p (HF TopPLogitsWarper)."""
    if p >= 1.0:
        return scores
    sorted_logits, sorted_idx = torch.sort(scores, descending=False)
    cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    remove_sorted = cum <= (1 - p)
    remove_sorted[..., -min_tokens_to_keep:] = False
    remove = remove_sorted.scatter(1, sorted_idx, remove_sorted)
    return scores.masked_fill(remove, NEG_INF)


def min_p(scores: Tensor, p: Optional[float], min_tokens_to_keep: int = 1) -> Tensor:
    """Remove tokens whose probability is below p times the best token's (HF MinPLogitsWarper)."""
    if p is None or p <= 0:
        return scores
    probs = scores.softmax(dim=-1)
    threshold = p * probs.amax(dim=-1, keepdim=True)
    remove = probs < threshold
    sorted_idx = torch.argsort(scores, descending=True, dim=-1)
    remove_sorted = torch.gather(remove, -1, sorted_idx)
    remove_sorted[..., :min_tokens_to_keep] = False
    remove = remove_sorted.scatter(1, sorted_idx, remove_sorted)
    return scores.masked_fill(remove, NEG_INF)


def typical_p(scores: Tensor, mass: float, min_tokens_to_keep: int = 1) -> Tensor:
    """Locally typical sampling (Meister et al.; HF TypicalLogitsWarper): keep the tokens whose
    surprisal is closest to the entropy until their probability reaches `mass`."""
    if mass >= 1.0:
        return scores
    normalized = torch.log_softmax(scores, dim=-1)
    p = normalized.exp()
    ent = -(normalized * p).nansum(-1, keepdim=True)
    shifted = torch.abs(-normalized - ent)
    sorted_scores, sorted_idx = torch.sort(shifted, descending=False)
    sorted_logits = scores.gather(-1, sorted_idx)
    cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    last_ind = (cum < mass).sum(dim=1)
    last_ind.clamp_(max=sorted_scores.shape[-1] - 1)
    remove_sorted = sorted_scores > sorted_scores.gather(1, last_ind.view(-1, 1))
    remove_sorted[..., :min_tokens_to_keep] = False
    remove = remove_sorted.scatter(1, sorted_idx, remove_sorted)
    return scores.masked_fill(remove, NEG_INF)


def epsilon_cutoff(scores: Tensor, eps: float, min_tokens_to_keep: int = 1) -> Tensor:
    """Remove tokens with probability below eps, keeping at least the best one (HF EpsilonLogitsWarper)."""
    if eps <= 0:
        return scores
    probs = scores.softmax(dim=-1)
    remove = probs < eps
    k = min(min_tokens_to_keep, scores.shape[-1])
    remove = remove & (scores < torch.topk(scores, k)[0][..., -1, None])
    return scores.masked_fill(remove, NEG_INF)


def eta_cutoff(scores: Tensor, eta: float, min_tokens_to_keep: int = 1) -> Tensor:
    """Eta sampling (Hewitt et al. 2022; HF EtaLogitsWarper): remove tokens with probability below
    min(eta, sqrt(eta) * exp(-entropy)), keeping at least the best `min_tokens_to_keep`."""
    if eta <= 0:
        return scores
    logp = torch.log_softmax(scores, dim=-1)
    probs = logp.exp()
    entropy = -(probs * logp).nansum(dim=-1, keepdim=True)      # a removed token (-inf) adds 0
    cutoff = torch.clamp(eta ** 0.5 * torch.exp(-entropy), max=eta)
    remove = probs < cutoff
    k = min(min_tokens_to_keep, scores.shape[-1])
    remove = remove & (scores < torch.topk(scores, k)[0][..., -1, None])
    return scores.masked_fill(remove, NEG_INF)



def hamming_diversity(scores: Tensor, previous_tokens: Sequence[int], penalty: float) -> Tensor:
    """HF HammingDiversityLogitsProcessor: subtract penalty x (how often earlier groups chose the token
    at this step) from every beam of the current group."""
    if penalty == 0 or not previous_tokens:
        return scores
    freq = torch.bincount(torch.as_tensor(list(previous_tokens), dtype=torch.long),
                          minlength=scores.shape[-1]).to(scores.dtype)
    return scores - penalty * freq[None, :]


def length_normalized(score: float, length: int, length_penalty: float) -> float:
    """score / length ** length_penalty (HF BeamHypotheses), length counted from 1. Exactly that division
    whenever length ** length_penalty is a finite, non-zero float (so beam search ranks as transformers
    does); when the power overflows or underflows, computed in log space as
    score * exp(-length_penalty * log(length)): never a ZeroDivisionError or an OverflowError; a result
    beyond float range is +-inf."""
    score = float(score)
    if score == 0.0 or length_penalty == 0.0 or not math.isfinite(score):
        return score
    length = max(int(length), 1)
    try:
        denominator = length ** float(length_penalty)
    except OverflowError:
        denominator = math.inf
    if denominator != 0.0 and math.isfinite(denominator):
        return score / denominator
    exponent = -float(length_penalty) * math.log(length)
    if exponent > 709.0:                          # exp overflows: |score| x inf
        return math.copysign(math.inf, score)
    return score * math.exp(exponent)


def non_finite_rows(scores: Tensor) -> Tensor:
    """[N] bool: rows holding NaN or +inf (-inf is a removed token, as everywhere)."""
    return (torch.isnan(scores) | torch.isposinf(scores)).any(-1)


# -- composition (driven by the table in fields.py) ---------------------------------------------------

CONTEXT_ARGS = ("seen", "context_ids", "n_generated", "eos_id")


@functools.lru_cache(maxsize=None)
def call_plan(rule: Callable) -> tuple[str, tuple[str, ...]]:
    """(name of the parameter that takes the field's value, the context names the rule asks for)."""
    params = list(inspect.signature(rule).parameters)[1:]
    value = next((p for p in params if p not in CONTEXT_ARGS), None)
    if value is None:
        raise TypeError(f"rule {rule.__name__} has no parameter for its field's value")
    return value, tuple(p for p in params if p in CONTEXT_ARGS)


def apply_rules(scores: Tensor, config, context_ids: Sequence[Sequence[int]], n_generated: Sequence[int],
                eos_id: int, warp: bool) -> Tensor:
    """Every rule of `config` that is on, in the table's order. `context_ids`: per row, the ids the
    repetition rules look at (LM: prompt + generated; seq2seq: generated); `n_generated`: tokens
    generated so far; `warp`: apply the sampling rules too. A row that comes out with NaN or +inf is
    returned fully removed (-inf), so the strategy falls back to its raw distribution and records a
    warning (see the module docstring)."""
    from .fields import rule_fields
    original = scores
    context = {"context_ids": context_ids, "n_generated": n_generated, "eos_id": eos_id}
    for field in rule_fields(warp):
        value = getattr(config, field.name)
        if field.is_off(value):
            continue
        value_arg, needs = call_plan(field.rule)
        kwargs = {value_arg: value}
        for name in needs:
            if name == "seen" and "seen" not in context:      # computed once, shared by the repetition rules
                context["seen"] = seen_mask(context_ids, scores.shape[-1], scores.device)
            kwargs[name] = context[name]
        scores = field.rule(scores, **kwargs)
    if scores is not original and not _sums_clean(scores):
        bad = non_finite_rows(scores)
        if bool(bad.any()):
            scores = scores.masked_fill(bad[:, None], NEG_INF)
    return scores


def _sums_clean(scores: Tensor) -> bool:
    """True when no row can hold NaN or +inf: every row's sum is finite or -inf (a NaN or +inf in a row
    makes its sum NaN or +inf). A False may be an overflowing sum of finite scores: the caller then checks
    element by element (`non_finite_rows`)."""
    return all(x == x and x != math.inf for x in scores.sum(-1).tolist())


def rules_active(config, warp: bool) -> list[str]:
    """Names of the rules that are on under `config`, in application order."""
    from .fields import rule_fields
    return [f.name for f in rule_fields(warp) if not f.is_off(getattr(config, f.name))]
