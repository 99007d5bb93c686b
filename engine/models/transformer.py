"""Transformer encoder-decoder: encoder self-attention, causal decoder self-attention with a KV
cache, cross-attention over the encoder states, optional tied embeddings (one shared vocabulary:
source embedding = target embedding = output projection).

Source positions are learned embeddings (`src_positions="learned"`) or rotary embeddings in the
encoder's self-attention (`"rope"`): attention between source characters then depends on their
offset, not on where the date starts, which helps on formats whose parts sit at unseen positions.
Target positions are always learned."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor, nn

from .base import SeqModel, State, StepOutput
from .gpt import _init
from .layers import DecoderBlock, EncoderBlock, empty_cache, positions, rope_tables, run_decoder_stack


@dataclass
class TransformerConfig:
    vocab_size: int
    d_model: int = 128
    n_layers: int = 2          # encoder layers
    n_dec_layers: int = 2
    n_heads: int = 4
    d_ff: int = 512
    dropout: float = 0.1
    max_len: int = 64
    tie_embeddings: bool = True
    src_positions: str = "learned"   # "learned" | "rope"


class TransformerSeq2Seq(SeqModel):
    is_encoder_decoder = True
    arch = "transformer"

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        if cfg.src_positions not in ("learned", "rope"):
            raise ValueError(f"src_positions must be 'learned' or 'rope', got {cfg.src_positions!r}")
        self.cfg = cfg
        d = cfg.d_model
        self.src_tok = nn.Embedding(cfg.vocab_size, d)
        self.tgt_tok = self.src_tok if cfg.tie_embeddings else nn.Embedding(cfg.vocab_size, d)
        self.src_pos = nn.Embedding(cfg.max_len, d) if cfg.src_positions == "learned" else None
        self.tgt_pos = nn.Embedding(cfg.max_len, d)
        self.drop = nn.Dropout(cfg.dropout)
        self.encoder = nn.ModuleList(EncoderBlock(d, cfg.n_heads, cfg.d_ff, cfg.dropout) for _ in range(cfg.n_layers))
        self.ln_enc = nn.LayerNorm(d)
        self.blocks = nn.ModuleList(DecoderBlock(d, cfg.n_heads, cfg.d_ff, cfg.dropout, cross=True)
                                    for _ in range(cfg.n_dec_layers))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, cfg.vocab_size, bias=False)
        self.apply(_init)
        if cfg.tie_embeddings:
            self.head.weight = self.tgt_tok.weight

    def describe(self) -> dict:
        return {"is_encoder_decoder": True, "n_layers": self.cfg.n_dec_layers, "n_heads": self.cfg.n_heads,
                "n_encoder_layers": self.cfg.n_layers, "has_self_attention": True, "has_cross_attention": True,
                "max_len": self.cfg.max_len}

    def start(self, src_ids: Optional[Tensor] = None, src_mask: Optional[Tensor] = None,
              output_attentions: bool = False, batch_size: int = 1, hooks=()) -> tuple[State, dict]:
        want = self.wanted(hooks, output_attentions, attention=("attn.encoder.",))
        if src_ids is None:
            raise ValueError("an encoder-decoder model needs a source")
        b, s = src_ids.shape
        if s > self.cfg.max_len:
            raise ValueError(f"source of {s} tokens is longer than the model's limit of {self.cfg.max_len}")
        if src_mask is None:
            src_mask = torch.ones(b, s, dtype=torch.bool, device=src_ids.device)
        src_mask = src_mask.bool()
        x = self.src_tok(src_ids)
        rope = None
        if self.src_pos is not None:
            x = x + self.src_pos(torch.arange(s, device=src_ids.device))
        else:
            rope = rope_tables(s, self.cfg.d_model // self.cfg.n_heads, src_ids.device)
        x = self.drop(x)
        attn_mask = src_mask[:, None, None, :]
        found = {}
        for i, block in enumerate(self.encoder):
            name = f"attn.encoder.{i}"
            x, w = block(x, attn_mask, name in want, rope)
            if name in want:
                found[name] = w
        memory = self.ln_enc(x)
        state = empty_cache(self.blocks, b, src_ids.device)
        state["memory_mask"] = src_mask
        for i, block in enumerate(self.blocks):
            state[f"ck{i}"], state[f"cv{i}"] = block.cross_attn.project_kv(memory)
        return state, found

    def decode(self, input_ids: Tensor, state: State, input_mask: Optional[Tensor] = None,
               output_attentions: bool = False, hooks=()) -> StepOutput:
        want = self.wanted(hooks, output_attentions)
        b, t = input_ids.shape
        if input_mask is None:
            input_mask = torch.ones(b, t, dtype=torch.bool, device=input_ids.device)
        pos, new_pos = positions(state["pos"], input_mask)
        if int(new_pos.max()) > self.cfg.max_len:
            raise ValueError(f"target longer than the model's limit of {self.cfg.max_len} tokens")
        x = self.drop(self.tgt_tok(input_ids) + self.tgt_pos(pos))
        x, new, found = run_decoder_stack(self.blocks, x, state, input_mask, want, cross=True)
        hidden = self.ln_f(x)
        new["pos"] = new_pos
        new["memory_mask"] = state["memory_mask"]
        for i in range(len(self.blocks)):
            new[f"ck{i}"], new[f"cv{i}"] = state[f"ck{i}"], state[f"cv{i}"]
        if "hidden.final" in want:
            found["hidden.final"] = hidden
        return StepOutput(self.head(hidden), hidden, new, found)
