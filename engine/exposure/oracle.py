"""OracleLM: the oracle of the `hmm` task as a model (the measurements' ground truth)."""
from __future__ import annotations

from typing import Iterable, Optional

import torch
from torch import Tensor

from ..models import SeqModel
from ..models.base import StepOutput
from ..tokenizer import EOS, Tokenizer


class OracleLM(SeqModel):
    """The HMM oracle as a seqscope language model (incremental forward filter in the state), so that
    every measurement can be run on the truth itself: its KL to the oracle is 0 at every prefix."""

    is_encoder_decoder = False
    arch = "oracle"
    has_cross_attention = False
    has_self_attention = False

    def __init__(self, oracle, tok: Tokenizer):
        super().__init__()
        self.oracle, self.vocab = oracle, tok.vocab_size
        self.sym_ids = torch.tensor([tok.encode(ch).ids[0] for ch in oracle.symbols])
        self.to_sym = torch.full((tok.vocab_size,), -1, dtype=torch.long)
        self.to_sym[self.sym_ids] = torch.arange(len(self.sym_ids))
        self.A = torch.from_numpy(oracle.A)
        self.B = torch.from_numpy(oracle.B)
        self.pi = torch.from_numpy(oracle.pi)

    @property
    def max_len(self) -> int:
        return self.oracle.length + 1

    def describe(self) -> dict:
        return {"is_encoder_decoder": False, "n_layers": 0, "n_heads": 0, "n_encoder_layers": 0,
                "has_self_attention": False, "has_cross_attention": False, "max_len": self.max_len}

    def start(self, src_ids=None, src_mask=None, output_attentions=False, batch_size: int = 1,
              hooks: Iterable[str] = ()):
        return {"alpha": self.pi.expand(batch_size, -1).clone(), "pos": torch.zeros(batch_size, dtype=torch.long)}, {}

    def _logits(self, alpha: Tensor, pos: Tensor) -> Tensor:
        p = torch.zeros(alpha.shape[0], self.vocab, dtype=torch.float64)
        at_end = pos >= self.oracle.length
        p[:, self.sym_ids] = torch.where(at_end[:, None], torch.zeros(()), alpha @ self.B)
        p[:, EOS] = at_end.double()
        return p.clamp(min=1e-30).log()

    def decode(self, input_ids: Tensor, state, input_mask: Optional[Tensor] = None, output_attentions=False,
               hooks: Iterable[str] = ()) -> StepOutput:
        """Feed tokens: a symbol updates the filter; any other token (<bos>, padding) leaves it."""
        alpha, pos = state["alpha"], state["pos"]
        logits, hidden = [], []
        for i in range(input_ids.shape[1]):
            x = self.to_sym[input_ids[:, i]]
            is_sym = x >= 0
            post = alpha * self.B[:, x.clamp(min=0)].T
            post = post / post.sum(1, keepdim=True)
            alpha = torch.where(is_sym[:, None], post @ self.A, alpha)
            pos = pos + is_sym.long()
            logits.append(self._logits(alpha, pos))
            hidden.append(alpha)
        return StepOutput(torch.stack(logits, 1), torch.stack(hidden, 1), {"alpha": alpha, "pos": pos})


def oracle_bundle(name: str = "hmm-oracle"):
    """The oracle of the `hmm` task as a loaded model (a Bundle), so that every measurement of
    engine.exposure.analyze can be run on the truth itself (`python -m engine exposure --model hmm-oracle`)."""
    from ..checkpoint import Bundle
    from ..tasks.hmm import HMMOracle
    oracle = HMMOracle()
    tok = Tokenizer.train_char(oracle.sample(200, seed=0))
    meta = {"task": "hmm", "kind": "lm", "arch": "oracle", "name": name}
    return Bundle(name, OracleLM(oracle, tok), tok, meta)
