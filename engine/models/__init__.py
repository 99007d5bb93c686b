"""Model architectures by name. Each architecture is one readable file."""
from __future__ import annotations

from .base import SeqModel, State, StepOutput, expand_state, reorder_state
from .gpt import GPT, GPTConfig
from .gru import GRUConfig, GRUSeq2Seq
from .transformer import TransformerConfig, TransformerSeq2Seq

ARCHS = {
    "gru-attn": (GRUSeq2Seq, GRUConfig, {"attention": True}),
    "gru-noattn": (GRUSeq2Seq, GRUConfig, {"attention": False}),
    "transformer": (TransformerSeq2Seq, TransformerConfig, {}),
    "gpt": (GPT, GPTConfig, {}),
}


def build_model(arch: str, config: dict) -> SeqModel:
    """Build an untrained model of architecture `arch` from a config dict (unknown keys refused)."""
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    cls, cfg_cls, fixed = ARCHS[arch]
    try:
        cfg = cfg_cls(**{**config, **fixed})
    except TypeError as exc:
        raise ValueError(f"bad config for {arch}: {exc}") from None
    return cls(cfg)


__all__ = ["ARCHS", "build_model", "SeqModel", "State", "StepOutput", "reorder_state", "expand_state",
           "GPT", "GPTConfig", "GRUSeq2Seq", "GRUConfig", "TransformerSeq2Seq", "TransformerConfig"]
