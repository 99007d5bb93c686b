"""Decoder-only causal Transformer (GPT-style masked self-attention) with a KV cache.

P(x_t | x_<t) = softmax(f(x_1..x_{t-1})): every position attends to itself and the positions before
it, through the upper-triangular mask of the source documents. Pre-LayerNorm blocks, learned
positions, output projection tied to the token embedding.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor, nn

from .base import SeqModel, State, StepOutput
from .layers import DecoderBlock, empty_cache, positions, run_decoder_stack


@dataclass
class GPTConfig:
    vocab_size: int
    d_model: int = 192
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int = 768
    dropout: float = 0.1
    max_len: int = 320


class GPT(SeqModel):
    is_encoder_decoder = False
    arch = "gpt"
    has_cross_attention = False

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos = nn.Embedding(cfg.max_len, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(DecoderBlock(cfg.d_model, cfg.n_heads, cfg.d_ff, cfg.dropout, cross=False)
                                    for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.head.weight = self.tok.weight  # tied
        self.apply(_init)

    def describe(self) -> dict:
        return {"is_encoder_decoder": False, "n_layers": self.cfg.n_layers, "n_heads": self.cfg.n_heads,
                "n_encoder_layers": 0, "has_self_attention": True, "has_cross_attention": False,
                "max_len": self.cfg.max_len}

    def start(self, src_ids: Optional[Tensor] = None, src_mask: Optional[Tensor] = None,
              output_attentions: bool = False, batch_size: int = 1, hooks=()) -> tuple[State, dict]:
        """A language model has no source: the state is an empty cache for `batch_size` rows."""
        return empty_cache(self.blocks, batch_size, self.tok.weight.device), {}

    def decode(self, input_ids: Tensor, state: State, input_mask: Optional[Tensor] = None,
               output_attentions: bool = False, hooks=()) -> StepOutput:
        want = self.wanted(hooks, output_attentions)
        b, t = input_ids.shape
        if input_mask is None:
            input_mask = torch.ones(b, t, dtype=torch.bool, device=input_ids.device)
        pos, new_pos = positions(state["pos"], input_mask)
        if int(new_pos.max()) > self.cfg.max_len:
            raise ValueError(f"sequence longer than the model's context of {self.cfg.max_len} tokens")
        x = self.drop(self.tok(input_ids) + self.pos(pos))
        x, new, found = run_decoder_stack(self.blocks, x, state, input_mask, want)
        hidden = self.ln_f(x)
        new["pos"] = new_pos
        if "hidden.final" in want:
            found["hidden.final"] = hidden
        return StepOutput(self.head(hidden), hidden, new, found)


def _init(m: nn.Module) -> None:
    if isinstance(m, (nn.Linear, nn.Embedding)):
        nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)
