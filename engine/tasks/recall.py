"""Delayed recall (the lab's truncated-BPTT task, engine/experiments/tbptt.py): ``"5"`` -> ``"c73914=c"``.

The target opens with a key letter (a..h), then k random filler digits, ``=`` and the key again; the
source is k (so the decoder knows when ``=`` comes, never the key). The recall at the end depends
only on a decoder input k + 1 steps back, so a recurrent decoder can predict it only by carrying the
key through its hidden state; the fillers are random so that nothing else keeps it there. Test
examples cycle through k = 0..max_gap (balanced per distance); train examples draw k uniformly.
Splits are i.i.d. draws from per-split seeds (a short test string can also occur in train: the
point is memory over distance, not generalisation to unseen strings). Not a CLI or Train-page task.
"""
from __future__ import annotations

import random
from typing import Optional

from . import Example, _resolve_sizes

KEYS = "abcdefgh"
FILLERS = "0123456789"
MAX_GAP = 10
DEFAULT_SIZES = {"train": 20_000, "valid": 550, "test": 1_100}


def make_example(rng: random.Random, k: int) -> Example:
    key = rng.choice(KEYS)
    return Example(str(k), key + "".join(rng.choice(FILLERS) for _ in range(k)) + "=" + key)


class RecallTask:
    kind = "seq2seq"
    name = "recall"
    description = "Recall the key letter that opened the target after k random digits, e.g. '3' -> 'c739=c'."

    def __init__(self, max_gap: int = MAX_GAP):
        self.max_gap = max_gap
        self.max_new_tokens = max_gap + 4

    def splits(self, seed: int = 0, sizes: dict[str, int] | None = None) -> dict[str, list[Example]]:
        sizes = _resolve_sizes(DEFAULT_SIZES, sizes)
        out = {}
        for split in ("train", "valid", "test"):
            rng = random.Random(f"seqscope/{self.name}/{seed}/{split}")
            gaps = self.max_gap + 1
            out[split] = [make_example(rng, rng.randrange(gaps) if split == "train" else i % gaps)
                          for i in range(sizes[split])]
        return out

    def examples(self) -> list[str]:
        return ["0", "3", "7", str(self.max_gap)]

    def reference(self, text: str) -> Optional[str]:
        """None: the key is not in the source (the target is random up to its last letter)."""
        return None
