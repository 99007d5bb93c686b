"""A BPE tokenizer without the two confounds of the training tokenizer for the bpe-vocab experiment, and
`fit` with a given tokenizer.

engine.tokenizer.Tokenizer.train_bpe (the Train page's BPE) is trained on source and target
concatenated ("12+34" + "46" as "12+3446", so merges cross the boundary) and its Metaspace
pre-tokenizer adds a word marker to every answer (one extra token each). Here BPE learns from sources
and targets as separate texts (a merge never crosses from one into the other) and has no
pre-tokenizer, so an answer's tokens are exactly the merges of its digits.
"""
from __future__ import annotations

from typing import Iterable

from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, trainers

from ..checkpoint import Bundle
from ..tokenizer import SPECIALS, Tokenizer
from ..training.loop import fit


def plain_bpe(texts: Iterable[str], vocab_size: int) -> Tokenizer:
    """BPE of `vocab_size` tokens (specials included) learnt from these texts, each a separate sequence."""
    texts = list(texts)
    hf = HFTokenizer(models.BPE(unk_token="<unk>"))
    hf.decoder = decoders.Fuse()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=sorted(set("".join(texts))), show_progress=False)
    hf.train_from_iterator(texts, trainer)
    return Tokenizer(hf, "bpe")


def fit_with(cfg: dict, tok: Tokenizer, seed: int) -> Bundle:
    """engine.training.fit's in-memory training (the same defaults for a dict config) with this tokenizer."""
    return fit(cfg, seed=seed, tok=tok)
