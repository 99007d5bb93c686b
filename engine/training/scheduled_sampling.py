"""Scheduled sampling (Bengio et al., 2015): feed the decoder the model's own tokens instead of gold ones.

At training step i each decoder input position keeps the gold token with probability eps_i
(engine/training/schedules.py) and otherwise takes the model's own token: a sample from its softmax,
as Bengio et al. do (`ss_sample`, the default), or its argmax (`ss_sample` False, `--ss-argmax`). A GRU decoder mixes token by token (the model token comes from the prefix actually fed);
a Transformer/GPT decoder uses the two-pass variant (a teacher-forced pass predicts, the second pass
mixes those predictions in). eps = 1 is exactly teacher forcing."""
from __future__ import annotations

from typing import Optional

import torch

from ..models import SeqModel
from ..tokenizer import PAD


def model_tokens(logits: torch.Tensor, sample: bool, gen: torch.Generator) -> torch.Tensor:
    """The model's own next tokens from [..., V] logits: argmax, or a sample from the softmax."""
    logits = logits.detach()
    if not sample:
        return logits.argmax(-1)
    flat = logits.reshape(-1, logits.shape[-1]).float().softmax(-1)
    return torch.multinomial(flat, 1, generator=gen).reshape(logits.shape[:-1])


def mix_two_pass(model: SeqModel, inputs: torch.Tensor, state, eps: float, sample: bool,
                 gen: torch.Generator, real: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Two-pass scheduled sampling for a parallel (Transformer/GPT) decoder: a teacher-forced pass
    predicts the token after every gold prefix; position j > 0 of the returned input keeps the gold
    token with probability eps (one coin per token) and otherwise takes the prediction made at j - 1."""
    with torch.no_grad():
        pred = model_tokens(model.decode(inputs, state).logits, sample, gen)
    coin = torch.rand(inputs.shape, generator=gen) >= eps              # True: feed the model's token
    coin[:, 0] = False                                                   # BOS stays
    keep = inputs[:, 1:] != PAD if real is None else real[:, 1:]
    mixed = inputs.clone()
    mixed[:, 1:] = torch.where(coin[:, 1:] & keep, pred[:, :-1], inputs[:, 1:])
    return mixed


def recurrent_logits(model: SeqModel, tin: torch.Tensor, state, eps: float, sample: bool,
                     gen: torch.Generator, tbptt: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A GRU decoder run token by token: the input at step t+1 is the gold token with probability eps,
    else the model's token predicted at step t from the prefix it was actually fed. With `tbptt` = L
    the hidden state is detached every L steps (truncated backpropagation through time).
    Returns the logits [B, T, V] and the inputs fed [B, T]."""
    b, t = tin.shape
    fed = [tin[:, 0]]
    logits = []
    inp = tin[:, :1]
    for i in range(t):
        if tbptt and i > 0 and i % tbptt == 0:
            state = {**state, "h": state["h"].detach()}
        o = model.decode(inp, state)
        state = o.state
        logits.append(o.logits[:, -1])
        if i + 1 < t:
            gold = tin[:, i + 1]
            if eps >= 1.0:
                nxt = gold
            else:
                own = model_tokens(o.logits[:, -1], sample, gen)
                coin = torch.rand(b, generator=gen) >= eps
                nxt = torch.where(coin & (gold != PAD), own, gold)
            fed.append(nxt)
            inp = nxt[:, None]
    return torch.stack(logits, 1), torch.stack(fed, 1)
