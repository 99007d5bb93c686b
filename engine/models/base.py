"""The one interface every seqscope model implements (and a Hugging Face model could be wrapped in).

Decoding is incremental, in the style of Hugging Face's `past_key_values`:

    state, enc_attn = model.start(src_ids, src_mask, output_attentions=True)   # encoder pass / empty cache
    out = model.decode(input_ids, state, output_attentions=True)               # feed T >= 1 tokens
    out.logits       [B, T, V]   next-token logits after each fed token
    out.hidden       [B, T, D]   decoder hidden state after each fed token (top layer)
    out.self_attn    list over layers of [B, H, T, K] (K = all keys so far) or None
    out.cross_attn   list over layers of [B, H, T, S] (S = source length) or None
    out.state        the state after these tokens (the input state is not modified)

A teacher-forced pass is `decode` of the whole shifted target in one call; a beam search reorders
the state with `reorder_state(state, beam_index)`. A state is a flat dict of tensors whose first
dimension is the batch, so reordering and batching are generic.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor, nn

State = dict[str, Tensor]


@dataclass
class StepOutput:
    logits: Tensor
    hidden: Tensor
    state: State
    self_attn: Optional[list[Tensor]] = None
    cross_attn: Optional[list[Tensor]] = None


def reorder_state(state: State, index: Tensor) -> State:
    """Select (and repeat) batch rows of every tensor in the state: the beam-search reorder."""
    return {k: v.index_select(0, index) for k, v in state.items()}


def expand_state(state: State, n: int) -> State:
    """Repeat every batch row n times (row b -> rows b*n .. b*n+n-1), e.g. to start n beams."""
    b = next(iter(state.values())).shape[0]
    index = torch.arange(b, device=next(iter(state.values())).device).repeat_interleave(n)
    return reorder_state(state, index)


class SeqModel(nn.Module):
    """Base class: subclasses set `is_encoder_decoder`, `arch` and implement start/decode."""

    is_encoder_decoder: bool = True
    arch: str = ""
    has_self_attention: bool = True
    has_cross_attention: bool = True

    def start(self, src_ids: Optional[Tensor] = None, src_mask: Optional[Tensor] = None,
              output_attentions: bool = False, batch_size: int = 1) -> tuple[State, Optional[list[Tensor]]]:
        raise NotImplementedError

    def decode(self, input_ids: Tensor, state: State, input_mask: Optional[Tensor] = None,
               output_attentions: bool = False) -> StepOutput:
        raise NotImplementedError

    @staticmethod
    def reorder_state(state: State, index: Tensor) -> State:
        return reorder_state(state, index)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
