"""The one interface every seqscope model implements (and a Hugging Face model could be wrapped in).

Decoding is incremental, in the style of Hugging Face's `past_key_values`:

    state, found = model.start(src_ids, src_mask, hooks=names)   # encoder pass / empty cache
    out = model.decode(input_ids, state, hooks=names)             # feed T >= 1 tokens
    out.logits       [B, T, V]   next-token logits after each fed token
    out.hidden       [B, T, D]   decoder hidden state after each fed token (top layer)
    out.state        the state after these tokens (the input state is not modified)
    out.hooks        {name: tensor} for the hook points asked for (found: those of the encoder)

Named hook points (in the style of TransformerLens): a model reports what it computed at the points a
caller names, so a recorder never reads a model's internals or asks which architecture it is.
`model.hook_names` lists a model's points; `model.describe()` says what it is.

    attn.encoder.{i}   [B, H, S, S]  encoder self-attention of layer i (start)
    attn.self.{i}      [B, H, T, K]  decoder self-attention of layer i over all K keys so far
    attn.cross.{i}     [B, H, T, S]  decoder layer i's attention over the source
    key_mask           [B, K]        which self-attention keys are real tokens (not padding)
    hidden.final       [B, T, D]     the top decoder hidden state (= out.hidden)

`output_attentions=True` asks for every attention point (out.self_attn / out.cross_attn list them by
layer). A teacher-forced pass is `decode` of the whole shifted target in one call; a beam search
reorders the state with `model.reorder_state(state, beam_index)` and starts n rows per input with
`model.expand_state(state, n)`. A seqscope model's state is a flat dict of tensors whose first
dimension is the batch, so both are generic here; a wrapped Hugging Face model (models/hf.py) keeps
its own cache object as the state and overrides both.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Iterable, Optional

import torch
from torch import Tensor, nn

State = dict[str, Tensor]


@dataclass
class StepOutput:
    logits: Tensor
    hidden: Tensor
    state: State
    hooks: dict[str, Tensor] = field(default_factory=dict)

    @property
    def self_attn(self) -> Optional[list[Tensor]]:
        return layer_hooks(self.hooks, "attn.self")

    @property
    def cross_attn(self) -> Optional[list[Tensor]]:
        return layer_hooks(self.hooks, "attn.cross")


def layer_hooks(hooks: dict[str, Tensor], kind: str) -> Optional[list[Tensor]]:
    """The hook points kind.0, kind.1, ... in layer order (None if none was recorded)."""
    found = []
    while f"{kind}.{len(found)}" in hooks:
        found.append(hooks[f"{kind}.{len(found)}"])
    return found or None


def reorder_state(state: State, index: Tensor) -> State:
    """Select (and repeat) batch rows of every tensor in the state: the beam-search reorder."""
    return {k: v.index_select(0, index) for k, v in state.items()}


def expand_state(state: State, n: int) -> State:
    """Repeat every batch row n times (row b -> rows b*n .. b*n+n-1), e.g. to start n beams."""
    b = next(iter(state.values())).shape[0]
    index = torch.arange(b, device=next(iter(state.values())).device).repeat_interleave(n)
    return reorder_state(state, index)


class SeqModel(nn.Module):
    """Base class: subclasses set `is_encoder_decoder`, `arch` and implement start/decode/describe."""

    is_encoder_decoder: bool = True
    arch: str = ""
    has_self_attention: bool = True
    has_cross_attention: bool = True

    def start(self, src_ids: Optional[Tensor] = None, src_mask: Optional[Tensor] = None,
              output_attentions: bool = False, batch_size: int = 1,
              hooks: Iterable[str] = ()) -> tuple[State, dict[str, Tensor]]:
        raise NotImplementedError

    def decode(self, input_ids: Tensor, state: State, input_mask: Optional[Tensor] = None,
               output_attentions: bool = False, hooks: Iterable[str] = ()) -> StepOutput:
        raise NotImplementedError

    @property
    def config_dict(self) -> dict:
        """The architecture config (saved as config.json's "model"): the model's `cfg` dataclass."""
        return asdict(self.cfg)

    @property
    def max_len(self) -> int:
        """The longest sequence the model accepts (source, or context for a language model)."""
        return self.cfg.max_len

    def describe(self) -> dict:
        """is_encoder_decoder, n_layers (decoder), n_heads, n_encoder_layers (with attention),
        has_self_attention, has_cross_attention, max_len."""
        raise NotImplementedError

    @property
    def hook_names(self) -> list[str]:
        """The named points this model reports (see the module docstring)."""
        d = self.describe()
        names = [f"attn.encoder.{i}" for i in range(d["n_encoder_layers"])]
        if d["has_self_attention"]:
            names += [f"attn.self.{i}" for i in range(d["n_layers"])] + ["key_mask"]
        if d["has_cross_attention"]:
            names += [f"attn.cross.{i}" for i in range(d["n_layers"])]
        return names + ["hidden.final"]

    def wanted(self, hooks: Iterable[str], output_attentions: bool, attention: tuple = ("attn.self.", "attn.cross.")
               ) -> frozenset:
        """The hook points to report: the names asked for, plus every attention point (of the kinds in
        `attention`) when output_attentions. An unknown name is refused."""
        hooks = frozenset(hooks)
        if not hooks and not output_attentions:
            return hooks
        names = self.hook_names
        unknown = sorted(hooks - set(names))
        if unknown:
            raise ValueError(f"unknown hook point(s) {', '.join(unknown)}; {self.arch} has {', '.join(names)}")
        return hooks | {n for n in names if output_attentions and n.startswith(attention)}

    @staticmethod
    def reorder_state(state: State, index: Tensor) -> State:
        return reorder_state(state, index)

    def expand_state(self, state: State, n: int) -> State:
        """Repeat every batch row n times (row b -> rows b*n .. b*n+n-1), e.g. to start n beams."""
        return expand_state(state, n)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
