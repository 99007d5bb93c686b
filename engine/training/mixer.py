"""MIXER (Ranzato et al., 2016, "Sequence Level Training with Recurrent Neural Networks", section 3.3 and
algorithm 1): from a model trained by cross-entropy (XENT), anneal towards REINFORCE on a sequence reward
by handing it the end of each target, Delta tokens more every N steps.

At stage k = 1 + step // N (`mixer_every`) a target of T tokens (<eos> included) is split at
s = max(0, T - Delta * k) (`mixer_delta`):

    the first s tokens:  cross-entropy, teacher forced (gold inputs), as in MLE;
    the rest:            the decoder continues from the gold prefix y_<=s with its own samples
                         w_{s+1} ... (until <eos>) and REINFORCE weights their log-probability by
                         r(y_<=s w) - b, r the sequence reward of the whole output (engine/training/
                         scst.py: exact match or chrF / 100 against the reference).

so k = 1 is the paper's first annealing stage (REINFORCE on the last Delta tokens) and once Delta * k
reaches the longest target the whole output is sampled (pure REINFORCE). The loss of a batch is

    L = ( sum_{i, t <= s_i} -log p(y_t | y_<t, x_i)
          + (1/n) sum_{i, j} -(r_ij - b_ij) * sum_{t > s_i} log p(w^j_t | y_<=s_i, w^j_<t, x_i) ) / sum_i T_i

(token-mean cross-entropy when no token is under REINFORCE). Baseline (one deviation from the paper,
declared): b_ij is the mean reward of the other n - 1 samples of the same source and prefix
(`mixer_samples` = n >= 2; leave-one-out, unbiased: it does not depend on w^j), where the paper learns
a linear regressor from the decoder's hidden state. The paper's other settings are kept: the initial
XENT stage is the checkpoint `init_from` (an MLE model), Delta is a few tokens (the paper: 2 or 3),
and the sampled continuation is what is fed back during the REINFORCE part.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..models import SeqModel
from ..rollout import rollout
from ..tokenizer import PAD, Tokenizer
from .scst import rewards, texts


def reinforce_tokens(step: int, delta: int, every: int) -> int:
    """Delta * k: how many final target tokens are under REINFORCE at this step (stage k = 1 + step // N)."""
    return delta * (1 + step // every)


def split(lengths: Tensor, step: int, delta: int, every: int) -> Tensor:
    """s_i = max(0, T_i - Delta * k): the tokens of each target (lengths T_i) trained by cross-entropy."""
    return (lengths - reinforce_tokens(step, delta, every)).clamp(min=0)


def leave_one_out(r: Tensor, n: int) -> Tensor:
    """Per sample, the mean reward of the other n - 1 samples of its source (rows b*n .. b*n + n - 1)."""
    g = r.reshape(-1, n)
    return ((g.sum(1, keepdim=True) - g) / (n - 1)).reshape(-1)


def mixer_loss(model: SeqModel, batch, tok: Tokenizer, gen: torch.Generator, step: int, *, delta: int = 2,
               every: int = 100, n: int = 4, reward="exact") -> tuple[Tensor, dict]:
    """The MIXER loss on one (src, src_mask, decoder_in, decoder_out) batch at training step `step`, and its
    statistics: the mean reward of the samples, the REINFORCE tokens per target (Delta * k) and the share of
    target tokens under cross-entropy."""
    if n < 2:
        raise ValueError("MIXER's baseline needs mixer_samples >= 2 (the mean reward of the other samples)")
    src, smask, tin, tout = batch
    real = tout != PAD
    lengths = real.sum(1)
    s = split(lengths, step, delta, every)
    total = lengths.sum().clamp(min=1)
    # cross-entropy on the first s_i target tokens, teacher forced
    state, _ = model.start(src, smask)
    xent_mask = torch.arange(tout.shape[1])[None, :] < s[:, None]
    xent = torch.zeros(())
    if bool(xent_mask.any()):
        logits = model.decode(tin, state).logits
        nll = F.cross_entropy(logits.transpose(1, 2), tout, ignore_index=PAD, reduction="none")
        xent = nll[xent_mask].sum()
    # REINFORCE on the rest: n sampled continuations of each gold prefix y_<=s_i, grouped by s
    refs = texts(tok, tout)
    pg = torch.zeros(())
    r_all = []
    for split_at in sorted(set(s.tolist())):
        rows = (s == split_at).nonzero()[:, 0]
        prefix = tin[rows, :split_at + 1]                       # <bos> y_1 .. y_s
        room = model.max_len - prefix.shape[1]
        if room < 1:
            continue
        max_new = (lengths[rows] - split_at + 4).clamp(max=room)
        run = rollout(model, tok, src=src[rows], src_mask=smask[rows], prompt=prefix, max_new=max_new,
                      rows_per_input=n, sample=True, generators=gen)
        gold = texts(tok, tout[rows, :split_at])
        outs = [g + c for g, c in zip([g for g in gold for _ in range(n)], texts(tok, run.tokens))]
        r = rewards(outs, [refs[i] for i in rows.tolist() for _ in range(n)], reward)
        advantage = r - leave_one_out(r, n)
        pg = pg - (advantage * run.logprobs.sum(1)).sum() / n
        r_all.append(r)
    loss = (xent + pg) / total
    r_cat = torch.cat(r_all) if r_all else torch.zeros(0)
    return loss, {"reward_sample": float(r_cat.mean()) if r_cat.numel() else float("nan"),
                  "mixer_reinforce_tokens": reinforce_tokens(step, delta, every),
                  "mixer_xent_share": float(s.sum() / total)}
