"""Forced tokens: a forced prefix and "wrong notes" ({step: token}) that a run must emit whatever the
model and the rules say, and the warnings when a forced token is excluded by the rules or never reached.

Greedy and sampling force through `engine.rollout`'s `forced` option (after the draw, so a sampling
run keeps its random stream); beam search keeps only the forced token's candidates (`force_scores`)."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from ..checkpoint import Bundle
from .inputs import Prepared, token_id


def attach_forced(bundle: Bundle, prep: Prepared, forced_prefix=None, forced_tokens=None) -> None:
    """Check forced_prefix (text or token ids) and forced_tokens ({step: token}) and store them in prep."""
    forced: dict[int, int] = {}
    prefix: list[int] = []
    if forced_prefix is not None and forced_prefix != "" and forced_prefix != []:
        if isinstance(forced_prefix, str):
            enc = bundle.tokenizer.encode(forced_prefix, add_special_tokens=False)     # a continuation
            if enc.unknown:
                prep.warnings.append(f"forced prefix: {len(enc.unknown)} character(s) became <unk>")
            prefix = list(enc.ids)
        elif isinstance(forced_prefix, (list, tuple)):
            prefix = [token_id(bundle, v, "forced_prefix") for v in forced_prefix]
        else:
            raise ValueError(f"forced_prefix must be a text or a list of token ids, got {type(forced_prefix).__name__}")
        forced.update(enumerate(prefix))
    if forced_tokens:
        if not isinstance(forced_tokens, dict):
            raise ValueError("forced_tokens must be a dict {step: token}")
        for k, v in forced_tokens.items():
            step = _step(k)
            tid = token_id(bundle, v, f"forced_tokens[{step}]")
            if step in forced and forced[step] != tid:
                raise ValueError(f"forced_tokens: step {step} is already forced by forced_prefix")
            forced[step] = tid
    if forced and max(forced) >= prep.max_new:
        raise ValueError(f"a token is forced at step {max(forced)} but at most {prep.max_new} new tokens are "
                         f"generated (steps 0..{prep.max_new - 1}); raise max_new_tokens")
    prep.forced, prep.forced_prefix = forced, prefix


def _step(k) -> int:
    try:
        step = int(k)
        if isinstance(k, bool) or isinstance(k, float) and k != step:
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"forced_tokens: step {k!r} is not an integer") from None
    if step < 0:
        raise ValueError(f"forced_tokens: step {step} is negative")
    return step


def excluded(step: int, token: str) -> str:
    """The warning when the rules had removed a token that was forced anyway."""
    return f"step {step}: the forced token {token!r} was excluded by the decoding rules"


def unused(prep: Prepared, lengths: Sequence[int], what: str = "sequence") -> list[str]:
    """Warnings for forced steps that a row did not reach (`lengths`: tokens generated per row)."""
    return [f"the {what} ended before step {step}; the token forced there was not used"
            for step in sorted(prep.forced) if any(n <= step for n in lengths)]


def force_scores(scores: Tensor, raw: Tensor, token: int, step: int, name: str, warnings: list) -> Tensor:
    """Beam search at a forced step: only `token` stays a candidate, with its score after the rules (its
    raw log-prob if the rules excluded it, with a warning)."""
    keep = scores[:, token].clone()
    if not bool(torch.isfinite(keep).all()):
        warnings.append(excluded(step, name) + "; its raw log-prob is used")
        keep = torch.where(torch.isfinite(keep), keep, raw[:, token])
    out = torch.full_like(scores, float("-inf"))
    out[:, token] = keep
    return out


__all__ = ["attach_forced", "excluded", "unused", "force_scores"]
