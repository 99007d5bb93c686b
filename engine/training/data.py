"""Training data: a task's tokenised splits and a seeded batch sampler (with the length curriculum)."""
from __future__ import annotations

import bisect
from typing import Optional

import torch

from ..batching import pad_batch, seq2seq_tensors
from ..tasks import get_task
from ..tokenizer import BOS, EOS, Tokenizer
from . import schedules
from .config import TrainConfig


class Data:
    """Tokenised splits and a seeded batch sampler (batch i depends only on the seed and i)."""

    def __init__(self, cfg: TrainConfig, tokenizer: Optional[Tokenizer] = None):
        self.cfg = cfg
        self.task = get_task(cfg.task)
        self.splits = self.task.splits(seed=cfg.seed, sizes=cfg.data_sizes or None)
        train_texts = [e.src + e.tgt for e in self.splits["train"]]
        if tokenizer is None:
            tokenizer = (Tokenizer.train_bpe(train_texts, cfg.bpe_vocab_size) if cfg.tokenizer == "bpe"
                         else Tokenizer.train_char(train_texts))
        self.tok = tokenizer
        self.seq2seq = self.task.kind == "seq2seq"
        if self.seq2seq:
            self.pairs = {k: [(e.src, e.tgt) for e in v] for k, v in self.splits.items()}
        else:
            self.seqs = {k: [[BOS] + tokenizer.encode(e.tgt).ids + [EOS] for e in v] for k, v in self.splits.items()}
            self.stream = torch.tensor([i for s in self.seqs["train"] for i in s], dtype=torch.long)
        self.train_size = len(self.splits["train"])
        self.by_length = None
        if cfg.curriculum_steps > 0 and not (not self.seq2seq and cfg.lm_mode == "stream"):
            # seq2seq: examples sorted by target length in tokens; the batch draws among the short ones
            lengths = ([len(tokenizer.encode(t).ids) for _, t in self.pairs["train"]] if self.seq2seq
                       else [len(s) - 1 for s in self.seqs["train"]])
            order = sorted(range(len(lengths)), key=lambda i: lengths[i])
            self.by_length = (order, [lengths[i] for i in order])

    def max_length(self, step: int) -> Optional[int]:
        """The curriculum's longest allowed length (tokens) at this step, or None without one."""
        if self.cfg.curriculum_steps <= 0:
            return None
        if self.by_length is None:                                   # LM stream: the block grows
            full, lo = self.cfg.block_size, 1
        else:
            full, lo = self.by_length[1][-1], self.by_length[1][0]
        start = self.cfg.curriculum_start or lo
        return schedules.curriculum_length(step, self.cfg.curriculum_steps, start, full)

    def _indices(self, g: torch.Generator, step: int, n_items: int) -> list[int]:
        b = self.cfg.batch_size
        limit = self.max_length(step)
        if limit is None or self.by_length is None or not self.seq2seq:
            return torch.randint(n_items, (b,), generator=g).tolist()
        order, lengths = self.by_length
        pool = max(1, bisect.bisect_right(lengths, limit))
        return [order[i] for i in torch.randint(pool, (b,), generator=g).tolist()]

    def batch(self, step: int):
        g = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + step)
        b = self.cfg.batch_size
        limit = self.max_length(step)
        if self.seq2seq:
            idx = self._indices(g, step, len(self.pairs["train"]))
            pairs = [self.pairs["train"][i] for i in idx]
            if self.cfg.length_buckets > 1:               # micro-batches of similar source length
                pairs.sort(key=lambda p: len(p[0]))
                k = self.cfg.length_buckets
                cuts = [round(j * len(pairs) / k) for j in range(k + 1)]
                return [seq2seq_tensors(self.tok, pairs[a:b]) for a, b in zip(cuts, cuts[1:]) if b > a]
            return seq2seq_tensors(self.tok, pairs)
        if self.cfg.lm_mode == "stream":
            n = (limit or self.cfg.block_size) + 1
            starts = torch.randint(len(self.stream) - n, (b,), generator=g)
            ids = torch.stack([self.stream[s:s + n] for s in starts.tolist()])
            return ids, torch.ones_like(ids, dtype=torch.bool)
        idx = torch.randint(len(self.seqs["train"]), (b,), generator=g).tolist()
        seqs = [self.seqs["train"][i] for i in idx]
        if limit is not None:                                        # LM: the first `limit` predictions
            seqs = [s[: limit + 1] for s in seqs]
        return pad_batch(seqs)
