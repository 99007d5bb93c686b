"""The cross-entropy losses of a training step: seq2seq targets and next-token LM, with label smoothing and
the scheduled-sampling mix of the decoder input (engine/training/scheduled_sampling.py)."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from ..models import SeqModel
from ..tokenizer import PAD
from .config import TrainConfig
from .scheduled_sampling import mix_two_pass, recurrent_logits


def seq2seq_loss(model: SeqModel, batch, cfg: TrainConfig, gen: torch.Generator,
                 eps: Optional[float] = None) -> torch.Tensor:
    """Cross-entropy of the targets; the decoder input is mixed by scheduled sampling when eps < 1.

    `batch` is one (src, src_mask, decoder_in, decoder_out) tuple or a list of them (length buckets):
    the micro-batches' mean losses are weighted by their target-token counts, which gives the mean
    over the whole batch."""
    if isinstance(batch, list):
        counts = [int((b[3] != PAD).sum()) for b in batch]
        total = sum(counts)
        return sum(seq2seq_loss(model, b, cfg, gen, eps) * (n / total) for b, n in zip(batch, counts))
    src, smask, tin, tout = batch
    eps = cfg.gold_prob(0) if eps is None else eps
    state, _ = model.start(src, smask)
    recurrent = not model.has_self_attention
    if recurrent and (eps < 1.0 or cfg.tbptt):
        logits, _ = recurrent_logits(model, tin, state, eps, cfg.ss_sample, gen, cfg.tbptt)
    else:
        if eps < 1.0:
            tin = mix_two_pass(model, tin, state, eps, cfg.ss_sample, gen)
        logits = model.decode(tin, state).logits
    return F.cross_entropy(logits.transpose(1, 2), tout, ignore_index=PAD, label_smoothing=cfg.label_smoothing)


def lm_loss(model: SeqModel, batch, cfg: TrainConfig, gen: Optional[torch.Generator] = None,
            eps: float = 1.0) -> torch.Tensor:
    ids, mask = batch
    state, _ = model.start(batch_size=ids.shape[0])
    inputs = ids[:, :-1]
    if eps < 1.0:
        inputs = mix_two_pass(model, inputs, state, eps, cfg.ss_sample, gen, real=mask[:, :-1])
    logits = model.decode(inputs, state).logits
    target = ids[:, 1:].masked_fill(~mask[:, 1:], PAD)
    return F.cross_entropy(logits.transpose(1, 2), target, ignore_index=PAD, label_smoothing=cfg.label_smoothing)
