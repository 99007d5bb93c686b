"""Batching: pad id lists into tensors, cut a list into batches, and the seq2seq training tensors."""
from __future__ import annotations

from typing import Iterable, Sequence

import torch
from torch import Tensor

from .tokenizer import BOS, EOS, PAD, Tokenizer


def pad_batch(seqs: Sequence[Sequence[int]], side: str = "right", value: int = PAD) -> tuple[Tensor, Tensor]:
    """Pad id lists into [B, T] ids and a boolean mask (True = real token)."""
    t = max(1, max((len(s) for s in seqs), default=1))
    ids = torch.full((len(seqs), t), value, dtype=torch.long)
    mask = torch.zeros(len(seqs), t, dtype=torch.bool)
    for i, s in enumerate(seqs):
        if not s:
            continue
        sl = slice(0, len(s)) if side == "right" else slice(t - len(s), t)
        ids[i, sl] = torch.tensor(list(s), dtype=torch.long)
        mask[i, sl] = True
    return ids, mask


def batches(items: Sequence, size: int) -> Iterable[Sequence]:
    """Consecutive slices of at most `size` items."""
    for i in range(0, len(items), size):
        yield items[i:i + size]


def seq2seq_tensors(tokenizer: Tokenizer, pairs: Sequence[tuple[str, str]]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Source ids/mask, decoder input ([BOS] + target) and decoder output (target + [EOS])."""
    src, smask = pad_batch([tokenizer.encode(s).ids for s, _ in pairs])
    tgt = [tokenizer.encode(t).ids for _, t in pairs]
    tin, _ = pad_batch([[BOS] + t for t in tgt])
    tout, _ = pad_batch([t + [EOS] for t in tgt])
    return src, smask, tin, tout
