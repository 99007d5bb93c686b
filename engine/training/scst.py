"""Self-critical sequence training (Rennie et al., 2017, "Self-critical Sequence Training for Image
Captioning"): REINFORCE whose baseline is the reward of the model's own greedy decode.

For each source x, draw n rollouts w^s ~ p(. | x) and decode greedily w^g; with a sequence reward
r (exact match, or chrF from sacrebleu divided by 100) the loss is

    L = - mean_s [ (r(w^s) - r(w^g)) * sum_t log p(w^s_t | w^s_<t, x) ]

so samples better than the greedy output are made more likely and worse ones less likely; when
every sample equals the greedy output there is no gradient. Both decodes are engine.rollout's free
run (with its special-token rule: <pad>, <bos> and <unk> are never emitted); row b*n + j is sample j
of source b. Used as a fine-tuning stage: `python -m engine train --recipe addition-gru-scst`
(TrainConfig.stage = "scst", init_from = base).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from ..models import SeqModel
from ..rollout import rollout
from ..tokenizer import Tokenizer


def rewards(preds: Sequence[str], refs: Sequence[str], kind="exact") -> Tensor:
    """Sequence rewards in [0, 1]: exact match, or sentence chrF (sacrebleu) / 100; `kind` may also be
    a function (preds, refs) -> list of floats."""
    if callable(kind):
        return torch.tensor([float(x) for x in kind(preds, refs)])
    if kind == "exact":
        return torch.tensor([float(p == r) for p, r in zip(preds, refs)])
    if kind == "chrf":
        from sacrebleu.metrics import CHRF
        chrf = CHRF()
        return torch.tensor([chrf.sentence_score(p, [r]).score / 100.0 for p, r in zip(preds, refs)])
    raise ValueError(f"unknown reward {kind!r}; choose 'exact' or 'chrf'")


def texts(tok: Tokenizer, ids: Tensor) -> list[str]:
    return [tok.decode(row) for row in ids.tolist()]


def scst_loss(model: SeqModel, batch, tok: Tokenizer, gen: torch.Generator, n: int = 4,
              reward="exact") -> tuple[Tensor, dict]:
    """The self-critical loss on one batch and its statistics (mean sample and greedy rewards)."""
    src, smask, _, tout = batch
    refs = texts(tok, tout)
    max_new = min(model.max_len - 1, tout.shape[1] + 4)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        greedy = rollout(model, tok, src=src, src_mask=smask, max_new=max_new)
    model.train(was_training)
    r_greedy = rewards(texts(tok, greedy.tokens), refs, reward)
    sampled = rollout(model, tok, src=src, src_mask=smask, max_new=max_new, rows_per_input=n, sample=True,
                      generators=gen)
    logp = sampled.logprobs.sum(1)          # log p(w^s | x), with gradients
    r_sample = rewards(texts(tok, sampled.tokens), [r for r in refs for _ in range(n)], reward)
    advantage = r_sample - r_greedy.repeat_interleave(n)
    loss = -(advantage * logp).mean()
    return loss, {"reward_sample": float(r_sample.mean()), "reward_greedy": float(r_greedy.mean()),
                  "nonzero_advantage": float((advantage != 0).float().mean())}
