"""Self-critical sequence training (Rennie et al., 2017, "Self-critical Sequence Training for Image
Captioning"): REINFORCE whose baseline is the reward of the model's own greedy decode.

For each source x, draw n rollouts w^s ~ p(. | x) and decode greedily w^g; with a sequence reward
r (exact match, or chrF from sacrebleu divided by 100) the loss is

    L = - mean_s [ (r(w^s) - r(w^g)) * sum_t log p(w^s_t | w^s_<t, x) ]

so samples better than the greedy output are made more likely and worse ones less likely; when
every sample equals the greedy output there is no gradient. Used as a fine-tuning stage:
`python -m engine train --recipe addition-gru-scst` (TrainConfig.stage = "scst", init_from = base).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from ..models import SeqModel, expand_state
from ..tokenizer import BOS, EOS, PAD, Tokenizer


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


def rollout(model: SeqModel, src: Tensor, smask: Tensor, n: int, max_new: int, gen: torch.Generator,
            greedy: bool = False, temperature: float = 1.0) -> tuple[Tensor, Tensor]:
    """Decode n continuations per source (row b*n + j is sample j of source b), token by token.

    Returns ids [B*n, L] (PAD after EOS) and the summed log-probabilities [B*n] of the chosen tokens,
    EOS included, with gradients (unless called under no_grad)."""
    state, _ = model.start(src, smask)
    if n > 1:
        state = expand_state(state, n)
    rows = src.shape[0] * n
    inp = torch.full((rows, 1), BOS, dtype=torch.long)
    done = torch.zeros(rows, dtype=torch.bool)
    total = torch.zeros(rows)
    out = []
    for _ in range(max_new):
        o = model.decode(inp, state)
        state = o.state
        logits = o.logits[:, -1] / temperature
        logits = logits.index_fill(1, torch.tensor([PAD, BOS]), float("-inf"))   # never emitted
        logp = logits.log_softmax(-1)
        if greedy:
            nxt = logp.argmax(-1)
        else:
            nxt = torch.multinomial(logp.detach().exp(), 1, generator=gen).squeeze(1)
        nxt = torch.where(done, torch.full_like(nxt, PAD), nxt)
        total = total + logp.gather(1, nxt[:, None]).squeeze(1).masked_fill(done, 0.0)
        out.append(nxt)
        done = done | (nxt == EOS)
        if bool(done.all()):
            break
        inp = nxt[:, None]
    return torch.stack(out, 1), total


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
        g_ids, _ = rollout(model, src, smask, 1, max_new, gen, greedy=True)
    model.train(was_training)
    r_greedy = rewards(texts(tok, g_ids), refs, reward)
    s_ids, logp = rollout(model, src, smask, n, max_new, gen)
    r_sample = rewards(texts(tok, s_ids), [r for r in refs for _ in range(n)], reward)
    advantage = r_sample - r_greedy.repeat_interleave(n)
    loss = -(advantage * logp).mean()
    return loss, {"reward_sample": float(r_sample.mean()), "reward_greedy": float(r_greedy.mean()),
                  "nonzero_advantage": float((advantage != 0).float().mean())}
