"""GRU encoder-decoder, with additive (Bahdanau) attention or without any.

Encoder: a bidirectional GRU over the source. Decoder: a GRU cell fed with the previous token's
embedding and a context vector.
- `attention=True`: the context at each step is a weighted average of the encoder states, with
  weights a_j = softmax_j(v . tanh(W_s s_{t-1} + W_h h_j)) (Bahdanau et al., 2015).
- `attention=False`: the context is the final encoder state at every step — the fixed "thought
  vector" that must carry the whole source (the bottleneck of the source documents).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .base import SeqModel, State, StepOutput


@dataclass
class GRUConfig:
    vocab_size: int
    d_emb: int = 64
    d_hidden: int = 128
    d_attn: int = 128
    attention: bool = True
    dropout: float = 0.1
    max_len: int = 64


class GRUSeq2Seq(SeqModel):
    is_encoder_decoder = True
    has_self_attention = False

    def __init__(self, cfg: GRUConfig):
        super().__init__()
        self.cfg = cfg
        self.arch = "gru-attn" if cfg.attention else "gru-noattn"
        self.has_cross_attention = cfg.attention
        e, h = cfg.d_emb, cfg.d_hidden
        self.emb = nn.Embedding(cfg.vocab_size, e)
        self.encoder = nn.GRU(e, h, batch_first=True, bidirectional=True)
        self.bridge = nn.Linear(2 * h, h)
        self.cell = nn.GRUCell(e + 2 * h, h)
        if cfg.attention:
            self.attn_s = nn.Linear(h, cfg.d_attn, bias=False)
            self.attn_h = nn.Linear(2 * h, cfg.d_attn)
            self.attn_v = nn.Linear(cfg.d_attn, 1, bias=False)
        self.pre_out = nn.Linear(h + 2 * h + e, h)
        self.out = nn.Linear(h, cfg.vocab_size)
        self.drop = nn.Dropout(cfg.dropout)

    def describe(self) -> dict:
        return {"is_encoder_decoder": True, "n_layers": 1, "n_heads": 1, "n_encoder_layers": 0,
                "has_self_attention": False, "has_cross_attention": self.cfg.attention, "max_len": self.cfg.max_len}

    def start(self, src_ids: Optional[Tensor] = None, src_mask: Optional[Tensor] = None,
              output_attentions: bool = False, batch_size: int = 1, hooks=()) -> tuple[State, dict]:
        self.wanted(hooks, output_attentions)            # a GRU encoder has no hook points
        if src_ids is None:
            raise ValueError("an encoder-decoder model needs a source")
        b, s = src_ids.shape
        if s > self.cfg.max_len:
            raise ValueError(f"source of {s} tokens is longer than the model's limit of {self.cfg.max_len}")
        if src_mask is None:
            src_mask = torch.ones(b, s, dtype=torch.bool, device=src_ids.device)
        src_mask = src_mask.bool()
        lengths = src_mask.sum(1).clamp(min=1).cpu()
        packed = pack_padded_sequence(self.drop(self.emb(src_ids)), lengths, batch_first=True, enforce_sorted=False)
        out, last = self.encoder(packed)
        memory, _ = pad_packed_sequence(out, batch_first=True, total_length=s)
        final = torch.cat([last[0], last[1]], dim=-1)           # forward's last + backward's first
        state: State = {"h": torch.tanh(self.bridge(final)), "memory_mask": src_mask,
                        "pos": torch.zeros(b, dtype=torch.long, device=src_ids.device)}
        if self.cfg.attention:
            state["memory"] = memory
            state["memory_proj"] = self.attn_h(memory)
        else:
            state["context"] = final
        return state, {}

    def attend(self, h: Tensor, state: State) -> tuple[Tensor, Tensor]:
        scores = self.attn_v(torch.tanh(self.attn_s(h)[:, None, :] + state["memory_proj"])).squeeze(-1)
        weights = scores.masked_fill(~state["memory_mask"], float("-inf")).softmax(-1)   # [B, S]
        return torch.bmm(weights[:, None, :], state["memory"]).squeeze(1), weights

    def decode(self, input_ids: Tensor, state: State, input_mask: Optional[Tensor] = None,
               output_attentions: bool = False, hooks=()) -> StepOutput:
        want = self.wanted(hooks, output_attentions)
        b, t = input_ids.shape
        if int(state["pos"].max()) + t > self.cfg.max_len:
            raise ValueError(f"target longer than the model's limit of {self.cfg.max_len} tokens")
        h = state["h"]
        emb = self.drop(self.emb(input_ids))
        hiddens, outs, weights = [], [], []
        for i in range(t):
            if self.cfg.attention:
                context, w = self.attend(h, state)
                weights.append(w)
            else:
                context = state["context"]
            h_new = self.cell(torch.cat([emb[:, i], context], -1), h)
            if input_mask is not None:  # padding leaves the state unchanged
                h_new = torch.where(input_mask[:, i, None].bool(), h_new, h)
            h = h_new
            hiddens.append(h)
            outs.append(torch.tanh(self.pre_out(torch.cat([h, context, emb[:, i]], -1))))
        hidden = torch.stack(hiddens, 1)
        logits = self.out(self.drop(torch.stack(outs, 1)))
        new = dict(state)
        new["h"] = h
        new["pos"] = state["pos"] + (t if input_mask is None else input_mask.long().sum(1))
        found = {}
        if "attn.cross.0" in want:
            found["attn.cross.0"] = torch.stack(weights, 1)[:, None]      # [B, 1 head, T, S]
        if "hidden.final" in want:
            found["hidden.final"] = hidden
        return StepOutput(logits, hidden, new, found)
