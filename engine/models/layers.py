"""Layers shared by the Transformer models: multi-head attention, MLP, encoder and decoder blocks.

Two paths that give the same output: the fast one calls `F.scaled_dot_product_attention`; when the
caller asks for the weights (recording), they are computed explicitly and returned.
Masks are boolean, True = may attend, shaped to broadcast against [B, H, T, K].
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} must be divisible by n_heads={n_heads}")
        self.n_heads, self.d_head = n_heads, d_model // n_heads
        self.q = nn.Linear(d_model, d_model)
        self.k = nn.Linear(d_model, d_model)
        self.v = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def split(self, x: Tensor) -> Tensor:  # [B, T, D] -> [B, H, T, Dh]
        b, t, _ = x.shape
        return x.view(b, t, self.n_heads, self.d_head).transpose(1, 2)

    def project_kv(self, source: Tensor) -> tuple[Tensor, Tensor]:
        return self.split(self.k(source)), self.split(self.v(source))

    def forward(self, x: Tensor, k: Tensor, v: Tensor, mask: Optional[Tensor],
                need_weights: bool = False, rope: Optional[tuple[Tensor, Tensor]] = None
                ) -> tuple[Tensor, Optional[Tensor]]:
        """x: queries [B, T, D]; k, v: [B, H, K, Dh] already projected; mask broadcastable to [B, H, T, K].
        `rope`: the (cos, sin) tables of rotary positions, applied to the queries (the caller rotates k)."""
        q = self.split(self.q(x))
        if rope is not None:
            q = apply_rope(q, *rope)
        p = self.dropout if self.training else 0.0
        if need_weights:
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.d_head)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = scores.softmax(dim=-1)
            y = F.dropout(weights, p, self.training) @ v
        else:
            weights = None
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        b, h, t, dh = y.shape
        return self.out(y.transpose(1, 2).reshape(b, t, h * dh)), weights


def rope_tables(t: int, d_head: int, device=None, base: float = 10000.0) -> tuple[Tensor, Tensor]:
    """cos and sin [T, Dh/2] of rotary position embeddings (Su et al., 2021) for positions 0..T-1."""
    inv = 1.0 / base ** (torch.arange(0, d_head, 2, device=device).float() / d_head)
    angles = torch.arange(t, device=device).float()[:, None] * inv[None, :]
    return angles.cos(), angles.sin()


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate each pair of channels of x [B, H, T, Dh] by its position's angle: the dot product of a
    rotated query and key then depends on their offset only, not on where they are."""
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).flatten(-2)


class MLP(nn.Module):
    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0):
        super().__init__()
        self.fc = nn.Linear(d_model, d_ff)
        self.proj = nn.Linear(d_ff, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.proj(F.gelu(self.fc(x))))


def causal_mask(past: int, t: int, key_mask: Tensor) -> Tensor:
    """[B, 1, T, past+T]: query i (cache index past+i) sees keys j <= past+i that are real tokens.

    A query always sees itself, so a padding query never has an empty row (no NaN)."""
    k = past + t
    qi = torch.arange(past, k, device=key_mask.device)[:, None]
    kj = torch.arange(k, device=key_mask.device)[None, :]
    allowed = (kj <= qi)[None] & key_mask[:, None, :]
    allowed = allowed | (kj == qi)[None]
    return allowed[:, None]


def positions(state_pos: Tensor, input_mask: Tensor) -> tuple[Tensor, Tensor]:
    """Per-row positions of new tokens (padding doesn't advance them) and the updated counter."""
    pos = state_pos[:, None] + input_mask.long().cumsum(1) - 1
    return pos.clamp(min=0), state_pos + input_mask.long().sum(1)


class EncoderBlock(nn.Module):
    """Pre-LayerNorm encoder block: bidirectional self-attention + MLP."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = MultiHeadAttention(d_model, n_heads, dropout)
        self.mlp = MLP(d_model, d_ff, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor, need_weights: bool,
                rope: Optional[tuple[Tensor, Tensor]] = None) -> tuple[Tensor, Optional[Tensor]]:
        h = self.ln1(x)
        k, v = self.attn.project_kv(h)
        if rope is not None:
            k = apply_rope(k, *rope)
        a, w = self.attn(h, k, v, mask, need_weights, rope)
        x = x + self.drop(a)
        return x + self.mlp(self.ln2(x)), w


class DecoderBlock(nn.Module):
    """Pre-LayerNorm decoder block: causal self-attention with a KV cache, optional cross-attention, MLP."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float, cross: bool):
        super().__init__()
        self.ln1, self.ln3 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout)
        self.cross_attn = MultiHeadAttention(d_model, n_heads, dropout) if cross else None
        self.ln2 = nn.LayerNorm(d_model) if cross else None
        self.mlp = MLP(d_model, d_ff, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, past_k: Tensor, past_v: Tensor, mask: Tensor, need_self: bool,
                cross_k: Optional[Tensor] = None, cross_v: Optional[Tensor] = None,
                cross_mask: Optional[Tensor] = None, need_cross: bool = False):
        h = self.ln1(x)
        k, v = self.self_attn.project_kv(h)
        k, v = torch.cat([past_k, k], dim=2), torch.cat([past_v, v], dim=2)
        a, self_w = self.self_attn(h, k, v, mask, need_self)
        x = x + self.drop(a)
        cross_w = None
        if self.cross_attn is not None:
            a, cross_w = self.cross_attn(self.ln2(x), cross_k, cross_v, cross_mask, need_cross)
            x = x + self.drop(a)
        return x + self.mlp(self.ln3(x)), k, v, self_w, cross_w


def run_decoder_stack(blocks: nn.ModuleList, x: Tensor, state: dict, input_mask: Optional[Tensor],
                      want: frozenset = frozenset(), cross: bool = False):
    """Run decoder blocks over new tokens x [B, T, D] with the KV cache in `state`.

    Returns (x, new cache entries, the hook points in `want`: attn.self.{i}, attn.cross.{i}, key_mask)."""
    b, t, _ = x.shape
    if input_mask is None:
        input_mask = torch.ones(b, t, dtype=torch.bool, device=x.device)
    key_mask = torch.cat([state["key_mask"], input_mask.bool()], dim=1)
    past = state["key_mask"].shape[1]
    mask = causal_mask(past, t, key_mask)
    cross_mask = state["memory_mask"][:, None, None, :] if cross else None
    new, hooks = {"key_mask": key_mask}, {}
    for i, block in enumerate(blocks):
        sa, ca = f"attn.self.{i}", f"attn.cross.{i}"
        x, k, v, sw, cw = block(x, state[f"k{i}"], state[f"v{i}"], mask, sa in want,
                                state.get(f"ck{i}"), state.get(f"cv{i}"), cross_mask, ca in want)
        new[f"k{i}"], new[f"v{i}"] = k, v
        if sa in want:
            hooks[sa] = sw
        if ca in want:
            hooks[ca] = cw
    if "key_mask" in want:
        hooks["key_mask"] = key_mask
    return x, new, hooks


def empty_cache(blocks: nn.ModuleList, batch: int, device) -> dict:
    state = {"key_mask": torch.zeros(batch, 0, dtype=torch.bool, device=device),
             "pos": torch.zeros(batch, dtype=torch.long, device=device)}
    for i, block in enumerate(blocks):
        h, dh = block.self_attn.n_heads, block.self_attn.d_head
        state[f"k{i}"] = torch.zeros(batch, h, 0, dh, device=device)
        state[f"v{i}"] = torch.zeros(batch, h, 0, dh, device=device)
    return state
