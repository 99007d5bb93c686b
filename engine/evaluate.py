"""Batched helpers used by training and model cards: encoding batches, greedy decoding, NLL."""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .batching import batches, pad_batch, seq2seq_tensors  # noqa: F401  shim: removed at integration (import from engine.batching)
from .models import SeqModel
from .tokenizer import BOS, EOS, PAD, Tokenizer


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
            state, _ = model.start(src, smask)
            step_in, step_mask = torch.full((len(chunk), 1), BOS, dtype=torch.long), None
        else:
            state, _ = model.start(batch_size=len(chunk))
            step_in, step_mask = pad_batch([[BOS] + e for e in enc], side="left")
        limit = min(max_new_tokens, model.max_len - int(step_mask.sum(1).max() if step_mask is not None else 1))
        done = torch.zeros(len(chunk), dtype=torch.bool)
        generated = []
        for _ in range(max(limit, 0)):
            o = model.decode(step_in, state, step_mask)
            state = o.state
            nxt = o.logits[:, -1].argmax(-1)
            nxt = torch.where(done, torch.full_like(nxt, PAD), nxt)
            generated.append(nxt)
            done |= nxt == EOS
            if bool(done.all()):
                break
            step_in, step_mask = nxt[:, None], None
        ids = torch.stack(generated, 1).tolist() if generated else [[] for _ in chunk]
        out.extend(tokenizer.decode(row) for row in ids)
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


def perplexity(total_nll: float, count: int) -> float:
    return math.exp(total_nll / max(count, 1))
